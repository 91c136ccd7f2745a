-- Shared by the GET scripts (dofile'd): counts answers that are not 200 and prints one JSON
-- line of results at the end.

local threads = {}

function setup(thread)
  thread:set("index", #threads + 1)
  table.insert(threads, thread)
end

function response(status)
  if status ~= 200 then non2xx = non2xx + 1 end
end

function done(summary, latency)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + t:get("non2xx") end
  io.write(string.format(
    '{"requests":%d,"non2xx":%d,"socket_errors":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
