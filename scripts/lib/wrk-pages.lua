-- wrk script: GET /data?limit=1000&after=N with N drawn at random below ARGS[1], so each
-- request asks for a page of its own (nothing to share, nothing cached): a burst of distinct
-- large pages, as a crawler would send. Prints one JSON line of results at the end.

dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk-report.lua")

function init(args)
  non2xx = 0
  highest = tonumber(args[1])
  math.randomseed(os.time() * 100 + index)
end

function request()
  return wrk.format("GET", "/data?limit=1000&after=" .. math.random(0, highest))
end
