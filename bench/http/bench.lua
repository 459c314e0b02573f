-- bench.lua: one wrk script for every HTTP benchmark endpoint.
-- Environment: SG_KEY (API key), SG_MODE (gap | gaps_list | history | patch), SG_DATA (directory
-- with gaps.txt and members.txt from http_bench_load). Each wrk thread reads the id files once;
-- `patch` walks the identified gaps in a per-thread slice so every PATCH is a valid
-- identified -> assigned transition (a gap is never patched twice).
local key = os.getenv("SG_KEY")
local mode = os.getenv("SG_MODE") or "gap"
local dir = os.getenv("SG_DATA") or "."
local ids = {}
local n = 0
local cursor = 0
local threads = {}
local counter = 0

local function load(file)
  local t = {}
  for line in io.lines(dir .. "/" .. file) do t[#t + 1] = line end
  return t
end

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  if mode == "history" then ids = load("members.txt") else ids = load("gaps.txt") end
  n = #ids
  local nthreads = tonumber(os.getenv("SG_THREADS") or "2")
  -- per-thread slice for patch so threads never collide
  cursor = math.floor((tid - 1) * n / nthreads)
  math.randomseed(tid * 7919)
  wrk.headers["X-API-Key"] = key
  if mode == "patch" then wrk.headers["Content-Type"] = "application/json" end
end

function request()
  if mode == "gap" then
    return wrk.format("GET", "/api/v1/gaps/" .. ids[math.random(n)])
  elseif mode == "gaps_list" then
    return wrk.format("GET", "/api/v1/gaps?status=identified&limit=50")
  elseif mode == "history" then
    return wrk.format("GET", "/api/v1/members/" .. ids[math.random(n)] .. "/history")
  else
    cursor = cursor + 1
    return wrk.format("PATCH", "/api/v1/gaps/" .. ids[cursor], nil, '{"status":"assigned"}')
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT mode=%s requests=%d duration_s=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d sock_errors=%d\n",
    mode, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
