-- wrk script: POST the file named by $BODY as JSON, and print one machine-readable line at the end:
-- RESULT <requests> <non-2xx or socket errors> <median ms> <p99 ms> <requests/s>
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = file:read("*a")
file:close()

function done(summary, latency, requests)
    local errors = summary.errors.status + summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT %d %d %.3f %.3f %.1f\n", summary.requests, errors,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests / (summary.duration / 1e6)))
end
