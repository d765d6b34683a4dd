-- wrk script: each request appends one statement to a different synthetic partnership
-- (bench/synthetic.py names them p00000…), as many writers spread over the store would.
--   wrk -c32 -d10s -s bench/random_append.lua http://127.0.0.1:8000 -- TOKEN 10000
-- One in ten synthetic partnerships has ended; appends to those are refused (422, counted by
-- wrk as non-2xx): the rate of accepted appends is the total less those.
-- Each statement takes effect today, as a pipeline's would: a date after today would leave the
-- partnership with a fact still to come, and a state read on today then folds every event
-- instead of starting from the snapshot.
local count = 10000
local n = 0
local today = os.date("!%Y-%m-%d")
local threads = 0
function setup(thread)  -- each thread its own sequence: the same seed made both ask alike
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  count = tonumber(args[2] or count)
  math.randomseed(os.time() * 1000 + id)
end
function request()
  n = n + 1
  local path = string.format("/partnerships/p%05d/events", math.random(0, count - 1))
  local body = string.format(
    '{"events":[{"type":"StatementMade","effective":"%s","data":'
      .. '{"speaker":"writer %d","text":"a benchmark statement","language":"en"}}]}',
    today,
    n
  )
  return wrk.format("POST", path, nil, body)
end
