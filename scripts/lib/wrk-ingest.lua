-- wrk script: binary-mode messagePublished CloudEvents, each with a message id of its own.
-- Arguments: RUN (a prefix unique to this run), DATA (base64 message data), TIME (publish time).
-- Prints one JSON line of results at the end.

local threads = {}

function setup(thread)
  thread:set("index", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  run, data, time = args[1], args[2], args[3]
  counter = 0
  non2xx = 0
end

function request()
  counter = counter + 1
  local id = run .. "-" .. index .. "-" .. counter
  local body = '{"message":{"data":"' .. data .. '","messageId":"' .. id ..
    '","publishTime":"' .. time .. '"},"subscription":"projects/bench/subscriptions/bench"}'
  return wrk.format("POST", "/", {
    ["ce-specversion"] = "1.0",
    ["ce-id"] = id,
    ["ce-source"] = "//pubsub.googleapis.com/projects/bench/topics/bench",
    ["ce-type"] = "google.cloud.pubsub.topic.v1.messagePublished",
    ["content-type"] = "application/json",
  }, body)
end

function response(status)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency)
  local sent, failed = 0, 0
  for _, t in ipairs(threads) do
    sent = sent + t:get("counter")
    failed = failed + t:get("non2xx")
  end
  io.write(string.format(
    '{"requests":%d,"sent":%d,"non2xx":%d,"socket_errors":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, sent, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
