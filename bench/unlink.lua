-- wrk script for the proxy benchmark (scripts/bench-proxy.sh): every request a new unlink
-- (its own Idempotency-Key) of an account never unlinked before, so each one takes the whole
-- path (limits, authoriser, key, intent, Mono, outcome) rather than the record's answer;
-- counting the 200s and printing the result as JSON.
-- Globals, not locals: wrk's done() reads each thread's `accepted` with thread:get().
counter = 0
accepted = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + id)
end

function request()
  counter = counter + 1
  local account = string.format("bench%d-%08d", id, counter)
  local key = string.format("%d-%d-%d", id, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/api/mono/accounts/" .. account .. "/unlink",
    { ["Idempotency-Key"] = key, ["Accept"] = "application/json",
      ["Cookie"] = "session=bench" }, "")
end

function response(status, headers, body)
  if status == 200 then
    accepted = accepted + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("accepted")
  end
  io.write(string.format(
    '{"requests":%d,"accepted":%d,"seconds":%.3f,"errors":%d,"p50_ms":%.2f,"p99_ms":%.2f}\n',
    summary.requests, total, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
