-- wrk script: each request reads a different synthetic partnership (bench/synthetic.py names
-- them p00000…), so the answer never comes from a cache of the same URL.
--   wrk -c16 -d10s -s bench/random_partnership.lua http://127.0.0.1:8000 -- state 10000
-- kinds: state, history, changes (per-partnership knowledge diff since the given instant)
local kind, count = "state", 10000
local threads = 0
function setup(thread)  -- each thread its own sequence: the same seed made both ask alike
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  kind = args[1] or kind
  count = tonumber(args[2] or count)
  math.randomseed(os.time() * 1000 + id)
end
function request()
  local path = string.format("/partnerships/p%05d", math.random(0, count - 1))
  if kind == "history" then
    path = path .. "/events"
  elseif kind == "changes" then
    path = path .. "/changes?since=2025-01-01T02:00:00Z"
  end
  return wrk.format("GET", path)
end
