-- wrk script: each request lists the partnerships of a different synthetic organization, named
-- by its id, its alias or its Wikidata id (bench/synthetic.py --organizations registers them).
--   wrk -c16 -d10s -s bench/random_party.lua http://127.0.0.1:8000 -- alias 500
-- kinds: id (org-0042), alias (Org 0042 Group), wikidata (wikidata:Q10042)
local kind, count = "id", 500
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  kind = args[1] or kind
  count = tonumber(args[2] or count)
  math.randomseed(os.time() * 1000 + id)
end
function request()
  local n = math.random(0, count - 1)
  local party = string.format("org-%04d", n)
  if kind == "alias" then
    party = string.format("Org%%20%04d%%20Group", n)
  elseif kind == "wikidata" then
    party = string.format("wikidata:Q%d", 10000 + n)
  end
  return wrk.format("GET", "/partnerships?limit=50&party=" .. party)
end
