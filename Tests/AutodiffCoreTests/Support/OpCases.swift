import Testing

@testable import AutodiffCore

// The finite-difference cases of every op: shapes, broadcasting, attribute paths and the domains
// the points are drawn from (kept away from kinks, poles and ties).

/// Where a case draws its random values.
struct Domain: Sendable {
    var lo: Double
    var hi: Double
    /// Points (kinks, thresholds, bounds) that samples keep `margin` away from.
    var avoid: [Double] = []
    var margin: Double = 0.05
    /// When set, samples are drawn from these values only (ties included on purpose).
    var choices: [Double]? = nil

    static let any = Domain(lo: -2, hi: 2)
    static let positive = Domain(lo: 0.2, hi: 3)
    static let nonzero = Domain(lo: -2, hi: 2, avoid: [0], margin: 0.3)
    /// Away from 0, for `prod`: moderate magnitudes.
    static let factors = Domain(lo: -1.5, hi: 1.5, avoid: [0], margin: 0.4)
    /// Away from integers and half-integers (the kinks of sign, floor, ceil, round).
    static let offGrid = Domain(
        lo: -3, hi: 3, avoid: stride(from: -3.0, through: 3.0, by: 0.5).map { $0 }, margin: 0.05)

    static func avoiding(_ points: Double...) -> Domain {
        Domain(lo: -2, hi: 2, avoid: points)
    }

    static func choices(_ values: Double...) -> Domain {
        Domain(lo: 0, hi: 0, choices: values)
    }

    func sample(_ rng: inout SplitMix64) -> Double {
        if let choices {
            return choices[Int(rng.next() % UInt64(choices.count))]
        }
        while true {
            let x = rng.uniform(lo, hi)
            if !avoid.contains(where: { abs(x - $0) < margin }) { return x }
        }
    }
}

/// One argument of a case's node.
enum CaseArg: Sendable {
    /// A graph input, checked against finite differences.
    case input([Int], Domain)
    /// A graph input whose gradient must be exactly zero.
    case noGradient([Int], Domain)
    case constant(Tensor)
    case literal(Double)
    /// The same input as argument `index`.
    case repeated(Int)
}

/// `y = op(args…)` with attributes, checked at one random point.
struct OpCase: Sendable, CustomTestStringConvertible {
    let op: Op
    let args: [CaseArg]
    let attrs: [String: AttributeValue]

    init(_ op: Op, _ args: [CaseArg], _ attrs: [String: AttributeValue] = [:]) {
        self.op = op
        self.args = args
        self.attrs = attrs
    }

    var testDescription: String {
        let args = args.map { arg -> String in
            switch arg {
            case .input(let shape, _), .noGradient(let shape, _): "\(shape)"
            case .constant(let t): "const\(t.shape)"
            case .literal(let x): "\(x)"
            case .repeated(let i): "arg\(i)"
            }
        }
        let attrs = attrs.keys.sorted().map { "\($0)=\(self.attrs[$0]!.summary)" }
        return "\(op.rawValue)(\((args + attrs).joined(separator: ", ")))"
    }

    /// The graph, its input values and the inputs whose gradient must be zero.
    func instantiate() throws -> (graph: Graph, values: [String: Tensor], zeroGradient: Set<String>) {
        var rng = SplitMix64(label: testDescription)
        var inputs: [String] = []
        var constants: [String: Tensor] = [:]
        var values: [String: Tensor] = [:]
        var zero: Set<String> = []
        var argNames: [String] = []
        for (index, arg) in args.enumerated() {
            let name = "a\(index)"
            switch arg {
            case .input(let shape, let domain), .noGradient(let shape, let domain):
                inputs.append(name)
                values[name] = try Tensor(
                    shape: shape, data: (0..<elementCount(shape)).map { _ in domain.sample(&rng) })
                if case .noGradient = arg { zero.insert(name) }
                argNames.append(name)
            case .constant(let t):
                constants[name] = t
                argNames.append(name)
            case .literal(let x):
                argNames.append(String(x))
            case .repeated(let other):
                argNames.append(argNames[other])
            }
        }
        let spec = GraphSpec(
            inputs: inputs, constants: constants, nodes: [nodeSpec("y", op.rawValue, argNames, attrs: attrs)])
        return (try Graph(spec), values, zero)
    }
}

enum OpCases {
    static let unaryShapes: [[Int]] = [[], [5], [2, 3], [2, 3, 4]]
    static let binaryShapes: [([Int], [Int])] = [
        ([], []), ([4], [4]), ([2, 3], [2, 3]), ([2, 3], [3]), ([3], [2, 3]), ([2, 1], [1, 3]),
        ([], [2, 3]), ([2, 3, 4], [3, 1]), ([3], [2, 1, 3]),
    ]

    static var all: [OpCase] { Op.allCases.flatMap(cases(for:)) }

    static func unary(_ op: Op, _ domain: Domain, _ attrs: [String: AttributeValue] = [:]) -> [OpCase] {
        unaryShapes.map { OpCase(op, [.input($0, domain)], attrs) }
    }

    /// Every broadcasting layout, a literal on each side, and the same input twice.
    static func binary(_ op: Op, _ lhs: Domain, _ rhs: Domain) -> [OpCase] {
        binaryShapes.map { OpCase(op, [.input($0.0, lhs), .input($0.1, rhs)]) } + [
            OpCase(op, [.input([2, 3], lhs), .literal(rhs.choices?.first ?? (rhs.lo + rhs.hi) / 2 + 0.3)]),
            OpCase(op, [.literal(lhs.choices?.first ?? (lhs.lo + lhs.hi) / 2 + 0.7), .input([3], rhs)]),
        ]
    }

    static func comparison(_ op: Op) -> [OpCase] {
        let values = Domain.choices(-1, 0, 1, 2)
        return binaryShapes.map { OpCase(op, [.noGradient($0.0, values), .noGradient($0.1, values)]) }
            + [OpCase(op, [.noGradient([4], values), .literal(1)])]
    }

    static func reduction(_ op: Op, _ domain: Domain) -> [OpCase] {
        [
            OpCase(op, [.input([], domain)]),
            OpCase(op, [.input([5], domain)]),
            OpCase(op, [.input([2, 3], domain)], ["axes": .ints([1])]),
            OpCase(op, [.input([2, 3], domain)], ["axes": .ints([0])]),
            OpCase(op, [.input([2, 3], domain)], ["axes": .ints([-1]), "keepdims": .bool(true)]),
            OpCase(op, [.input([2, 3, 4], domain)], ["axes": .ints([0, 2])]),
            OpCase(op, [.input([2, 3, 4], domain)], ["axes": .ints([-2]), "keepdims": .bool(true)]),
            OpCase(op, [.input([2, 3, 4], domain)], ["keepdims": .bool(true)]),
            OpCase(op, [.input([2, 3, 4], domain)], ["axes": .ints([2, -3]), "keepdims": .number(1)]),
        ]
    }

    static func softmax(_ op: Op) -> [OpCase] {
        [
            OpCase(op, [.input([5], .any)]),
            OpCase(op, [.input([2, 3], .any)], ["axis": .int(0)]),
            OpCase(op, [.input([2, 3, 4], .any)], ["axis": .int(1)]),
            OpCase(op, [.input([2, 3, 4], .any)], ["axis": .int(-1)]),
            OpCase(op, [.input([2, 3, 4], .any)], ["axis": .int(-3)]),
        ]
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    static func cases(for op: Op) -> [OpCase] {
        switch op {
        case .add, .sub, .mul, .maximum, .minimum:
            binary(op, .any, .any) + [OpCase(op, [.input([2, 3], .any), .repeated(0)])]
        case .div:
            binary(op, .any, .nonzero) + [OpCase(op, [.input([2, 3], .nonzero), .repeated(0)])]
        case .pow:
            binary(op, .positive, .any) + [
                OpCase(op, [.input([2, 3], .positive), .repeated(0)]),
                // Negative bases with integral literal exponents.
                OpCase(op, [.input([2, 3], .nonzero), .literal(3)]),
                OpCase(op, [.input([4], .nonzero), .literal(-2)]),
            ]
        case .gt, .ge, .lt, .le, .eq, .ne:
            comparison(op)
        case .neg, .exp, .sin, .cos, .tanh, .sigmoid, .square, .erf, .expm1:
            unary(op, .any)
        case .log, .sqrt:
            unary(op, .positive)
        case .reciprocal:
            unary(op, .nonzero)
        case .tan:
            unary(op, Domain(lo: -1.2, hi: 1.2))
        case .log1p:
            unary(op, Domain(lo: -0.7, hi: 2))
        case .abs, .relu:
            unary(op, .avoiding(0))
        case .leakyRelu:
            unary(op, .avoiding(0)) + [OpCase(op, [.input([2, 3], .avoiding(0))], ["negative_slope": .number(0.2)])]
        case .elu:
            unary(op, .avoiding(0)) + [OpCase(op, [.input([2, 3], .avoiding(0))], ["alpha": .number(0.5)])]
        case .gelu:
            unary(op, .any) + unary(op, .any, ["approximate": .string("tanh")])
                + [OpCase(op, [.input([2, 3], .any)], ["approximate": .string("none")])]
        case .softplus:
            unary(op, .any) + [
                OpCase(op, [.input([2, 3], .avoiding(0.5))], ["beta": .number(2), "threshold": .number(1)]),
                OpCase(op, [.input([2, 3], .any)], ["beta": .number(0.5)]),
            ]
        case .clamp:
            unary(op, .avoiding(-0.5, 0.7), ["min": .number(-0.5), "max": .number(0.7)]) + [
                OpCase(op, [.input([2, 3], .avoiding(-0.5))], ["min": .number(-0.5)]),
                OpCase(op, [.input([2, 3], .avoiding(0.7))], ["max": .number(0.7)]),
            ]
        case .sign, .floor, .ceil, .round:
            unaryShapes.map { OpCase(op, [.noGradient($0, .offGrid)]) }
        case .where:
            [
                OpCase(op, [.constant(T([2, 3], [1, 0, -2, 0, 0.5, 0])), .input([2, 3], .any), .input([2, 3], .any)]),
                OpCase(op, [.noGradient([2, 3], .choices(0, 1, -2)), .input([3], .any), .input([], .any)]),
                OpCase(op, [.noGradient([2, 1], .choices(0, 1)), .input([2, 3], .any), .input([1, 3], .any)]),
                OpCase(op, [.noGradient([], .choices(1)), .input([2], .any), .input([2], .any)]),
                OpCase(op, [.noGradient([3], .choices(0, 3)), .input([3], .any), .repeated(1)]),
            ]
        case .sum, .mean, .max, .min, .logsumexp:
            reduction(op, .any)
        case .prod:
            reduction(op, .factors)
        case .matmul:
            [
                ([3], [3]), ([3], [3, 4]), ([2, 3], [3]), ([2, 3], [3, 4]), ([1, 3], [3, 1]),
                ([2, 3, 4], [4, 2]), ([4], [2, 4, 3]), ([2, 3, 4], [4]), ([2, 1, 3, 4], [5, 4, 2]),
            ].map { OpCase(op, [.input($0.0, .any), .input($0.1, .any)]) }
        case .transpose:
            [
                OpCase(op, [.input([2, 3], .any)]), OpCase(op, [.input([2, 3, 4], .any)]),
                OpCase(op, [.input([2, 3, 4], .any)], ["perm": .ints([1, 0, 2])]),
                OpCase(op, [.input([2, 3, 4], .any)], ["perm": .ints([2, 0, 1])]),
                OpCase(op, [.input([5], .any)]), OpCase(op, [.input([], .any)]),
            ]
        case .reshape:
            [
                ([2, 3], [3, 2]), ([2, 3], [-1]), ([2, 3, 4], [4, -1]), ([2, 3, 4], [-1, 2, 3]),
                ([], [1]), ([1], []), ([6], [1, 2, 1, 3]), ([], [-1]),
            ].map { OpCase(op, [.input($0.0, .any)], ["shape": .ints($0.1)]) }
        case .broadcastTo:
            [([3], [2, 3]), ([2, 1], [2, 4]), ([], [2, 2]), ([1, 3], [2, 2, 3]), ([3], [3])]
                .map { OpCase(op, [.input($0.0, .any)], ["shape": .ints($0.1)]) }
        case .squeeze:
            [
                OpCase(op, [.input([1, 3, 1], .any)]), OpCase(op, [.input([1, 3, 1], .any)], ["axes": .ints([0])]),
                OpCase(op, [.input([1, 3, 1], .any)], ["axes": .ints([-1])]), OpCase(op, [.input([1, 1], .any)]),
                OpCase(op, [.input([2, 3], .any)]), OpCase(op, [.input([1], .any)], ["axes": .ints([0])]),
            ]
        case .unsqueeze:
            [
                ([3], [0]), ([3], [-1]), ([2, 3], [0, 3]), ([2, 3], [1, -1]), ([], [0]), ([2, 3], [3, 0]),
            ].map { OpCase(op, [.input($0.0, .any)], ["axes": .ints($0.1)]) }
        case .concat:
            [
                OpCase(op, [.input([2, 3], .any)]),
                OpCase(op, [.input([2, 1], .any), .input([2, 3], .any), .input([2, 2], .any)], ["axis": .int(1)]),
                OpCase(op, [.input([2, 1], .any), .input([2, 3], .any), .input([2, 2], .any)], ["axis": .int(-1)]),
                OpCase(op, [.input([1, 3], .any), .input([2, 3], .any)]),
                OpCase(op, [.input([2], .any), .input([3], .any)]),
                OpCase(op, [.input([2, 3], .any), .repeated(0)], ["axis": .int(1)]),
            ]
        case .slice:
            [
                ([6], [1], [4], nil, nil), ([6], [-3], [-1], nil, nil), ([6], [2], [100], nil, nil),
                ([6], [-100], [3], nil, nil), ([7], [0], [7], nil, [2]), ([7], [1], [-1], nil, [3]),
                ([3, 5], [1], [4], [1], nil), ([3, 5], [1], [4], [-1], nil),
                ([3, 5], [0, 1], [3, 5], [0, 1], [2, 2]),
                ([2, 3, 4], [1, 0], [2, 100], [0, 2], nil), ([5], [3], [1], nil, nil),
                ([4, 5], [1, 1], [3, 4], nil, nil),
                ([6], [1], [Int.max], nil, nil), ([6], [Int.min], [-2], nil, [2]),  // ONNX "to the end" sentinels
            ].map { (shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) in
                var attrs: [String: AttributeValue] = ["starts": .ints(starts), "ends": .ints(ends)]
                if let axes { attrs["axes"] = .ints(axes) }
                if let steps { attrs["steps"] = .ints(steps) }
                return OpCase(op, [.input(shape, .any)], attrs)
            }
        case .sliceBackward:
            [
                ([3], [6], [1], [4], nil, nil), ([3, 3], [3, 5], [1], [4], [1], nil), ([2], [7], [1], [-1], nil, [3]),
                ([4], [6], [2], [100], nil, nil), ([2, 2], [3, 5], [0, 1], [3, 5], [0, 1], [2, 3]),
            ].map { (arg: [Int], shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) in
                var attrs: [String: AttributeValue] = [
                    "shape": .ints(shape), "starts": .ints(starts), "ends": .ints(ends),
                ]
                if let axes { attrs["axes"] = .ints(axes) }
                if let steps { attrs["steps"] = .ints(steps) }
                return OpCase(op, [.input(arg, .any)], attrs)
            }
        case .softmax, .logSoftmax:
            softmax(op)
        }
    }
}
