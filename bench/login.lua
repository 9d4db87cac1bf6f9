-- wrk script for bench/auth.sh: every request is POST /v1/auth/login with a JSON body.
-- The account comes from the environment (bench/auth.sh registers it first):
--   KARADA_BENCH_EMAIL, KARADA_BENCH_PASSWORD
-- Only plain ASCII letters, digits, '@', '.', '-' and '_' are expected, so no JSON escaping is needed.

local email = os.getenv("KARADA_BENCH_EMAIL")
local password = os.getenv("KARADA_BENCH_PASSWORD")
if email == nil or password == nil then
  error("KARADA_BENCH_EMAIL and KARADA_BENCH_PASSWORD must be set")
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"email":"%s","password":"%s"}', email, password)
