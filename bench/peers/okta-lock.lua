-- bench/peers/okta-lock.lua: wrk's request script for bench/peers.sh. Every
-- request is one Okta event-hook delivery (POST, Okta's envelope with one
-- user.account.lock LogEvent) with a fresh eventId and event uuid, so no
-- server can answer it from a cache or drop it as a duplicate.
--
--   wrk ... -s okta-lock.lua URL -- BODY_TEMPLATE HOOK_SECRET
--
-- BODY_TEMPLATE is the delivery's JSON with @EVENTID@ and @UUID@ in place of
-- the two ids (bench/peers.sh writes it from tests/data/okta-samples). At the
-- end one line is printed for the script to read:
--   PEERS requests=N duration_us=D non2xx=M connect=C read=R write=W timeout=T
-- requests counts every answer (2xx or not); non2xx the answers outside
-- 200-299; connect..timeout are wrk's socket errors.

local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

-- per thread (each has its own Lua state): tid is set by setup
local parts
local seq = 0
non2xx = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local t = f:read("*a")
  f:close()
  local a = assert(t:find("@EVENTID@", 1, true), "no @EVENTID@ in the template")
  local b = assert(t:find("@UUID@", 1, true), "no @UUID@ in the template")
  assert(a < b, "@EVENTID@ must come before @UUID@")
  parts = { t:sub(1, a - 1), t:sub(a + 9, b - 1), t:sub(b + 6) }
  math.randomseed(os.time() + 7919 * tid)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = args[2]
end

-- a version-4-shaped uuid, unique per thread (tid) and request (seq)
local function uuid()
  seq = seq + 1
  return string.format("%04x%04x-%04x-4%03x-%04x-%06x%06x", math.random(0, 65535), math.random(0, 65535),
    tid % 65536, math.random(0, 4095), 32768 + math.random(0, 16383), math.random(0, 16777215), seq % 16777216)
end

function request()
  return wrk.format(nil, nil, nil, parts[1] .. uuid() .. parts[2] .. uuid() .. parts[3])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format("PEERS requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout))
end
