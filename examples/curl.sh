#!/usr/bin/env bash
# The seed question with curl: y = x*x is a vector, so y.backward() needs a seed.
# Usage: examples/curl.sh [http://127.0.0.1:8080]
set -euo pipefail
BASE=${1:-http://127.0.0.1:8080}
GRAPH='{"inputs":["x"],"nodes":[{"id":"y","op":"mul","args":["x","x"]},{"id":"s","op":"sum","args":["y"]}]}'

echo '# seed "ones" for y: the gradient of sum(y), 2x'
curl -sS -X POST "$BASE/v1/backward" -H 'Content-Type: application/json' \
    -d '{"graph":'"$GRAPH"',"values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":"ones"}}'
echo

echo '# the scalar s = sum(y) needs no seed: the same gradient'
curl -sS -X POST "$BASE/v1/backward" -H 'Content-Type: application/json' \
    -d '{"graph":'"$GRAPH"',"values":{"x":[1,2,3]},"outputs":["s"]}'
echo

echo '# no seed for the vector y: 422 seed_required'
curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$BASE/v1/backward" -H 'Content-Type: application/json' \
    -d '{"graph":'"$GRAPH"',"values":{"x":[1,2,3]},"outputs":["y"]}'

echo '# register once, call by id'
ID=$(curl -sS -X POST "$BASE/v1/graphs" -H 'Content-Type: application/json' -d '{"graph":'"$GRAPH"'}' |
    sed -E 's/.*"graph_id":"([^"]+)".*/\1/')
curl -sS -X POST "$BASE/v1/jacobian" -H 'Content-Type: application/json' \
    -d '{"graph_id":"'"$ID"'","values":{"x":[1,2,3]},"outputs":["y"]}'
echo

echo '# the picture: DOT from /v1/explain'
curl -sS -X POST "$BASE/v1/explain" -H 'Content-Type: application/json' \
    -d '{"graph":'"$GRAPH"',"values":{"x":[1,2,3]},"outputs":["y"],"seeds":{"y":"ones"}}' | head -n 1
