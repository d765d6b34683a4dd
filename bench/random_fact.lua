-- wrk script: each request reads the lineage of a fact of another synthetic partnership, from a
-- file of paths (`concurrency.fact_targets` writes one: /partnerships/pNNNNN/facts/KIND/ID), so
-- the answer never comes from a cache of the same URL.
--   wrk -c16 -d10s -s bench/random_fact.lua http://127.0.0.1:8000 -- TARGETS_FILE
local paths = {}
local threads = 0
function setup(thread)  -- each thread its own sequence: the same seed made both ask alike
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  math.randomseed(os.time() * 1000 + id)
end
function request()
  return wrk.format("GET", paths[math.random(1, #paths)])
end
