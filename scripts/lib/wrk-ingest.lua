-- wrk script: binary-mode messagePublished CloudEvents, each with a message id of its own.
-- Arguments: RUN (a prefix unique to this run), DATA (base64 message data), TIME (publish time).
-- Prints one JSON line of results at the end.
--
-- The load generator shares the machine with what it measures, so each request costs one
-- string.format over a request built once per thread (ids have a fixed width, so the body
-- length never changes), and failed responses are counted by wrk itself rather than in Lua
-- (statuses of 400 and above; scripts/bench also checks every acknowledged event is stored).

local threads = {}
local ID_WIDTH = 10

function setup(thread)
  thread:set("index", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local run, data, time = args[1], args[2], args[3]
  local id = run .. "-" .. index .. "-%0" .. ID_WIDTH .. "d"
  local body = '{"message":{"data":"' .. data .. '","messageId":"' .. id ..
    '","publishTime":"' .. time .. '"},"subscription":"projects/bench/subscriptions/bench"}'
  local request = wrk.format("POST", "/", {
    ["ce-specversion"] = "1.0",
    ["ce-id"] = id,
    ["ce-source"] = "//pubsub.googleapis.com/projects/bench/topics/bench",
    ["ce-type"] = "google.cloud.pubsub.topic.v1.messagePublished",
    ["content-type"] = "application/json",
  }, body)
  -- wrk.format measured the body with the placeholder in it; the formatted id is longer.
  local placeholder = #("%0" .. ID_WIDTH .. "d")
  template = request:gsub("Content%-Length: (%d+)", function(length)
    return "Content-Length: " .. (tonumber(length) - placeholder + ID_WIDTH)
  end)
  counter = 0
end

function request()
  counter = counter + 1
  return template:format(counter, counter)
end

function done(summary, latency)
  local sent = 0
  for _, t in ipairs(threads) do sent = sent + t:get("counter") end
  io.write(string.format(
    '{"requests":%d,"sent":%d,"error_status":%d,"socket_errors":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, sent, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
