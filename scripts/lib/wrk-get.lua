-- wrk script: GET requests of the URL given; prints one JSON line of results at the end.

dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk-report.lua")

function init(args)
  non2xx = 0
end
