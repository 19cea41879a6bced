-- wrk script: POST /Users with a unique userName per request; counts answers other than 201.
-- TOKEN comes from the environment.
dofile("bench/spread.lua")
local threads = {}
local next_id = 1

function setup(thread)
  spread(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  not_created = 0
  statuses = {}
  run = tostring(os.time())
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  wrk.headers["Content-Type"] = "application/scim+json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bench-%s-%d-%d@contoso.com",' ..
    '"active":true,"name":{"givenName":"Bench","familyName":"User"},' ..
    '"emails":[{"type":"work","primary":true,"value":"bench-%d-%d@contoso.com"}]}',
    run, id, counter, id, counter)
  return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
  if status ~= 201 then
    not_created = not_created + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_created")
    for status, n in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local detail = {}
  for status, n in pairs(by_status) do
    table.insert(detail, string.format("%d × %s", n, status))
  end
  table.sort(detail)
  local suffix = #detail > 0 and (" (" .. table.concat(detail, ", ") .. ")") or ""
  io.write(string.format("wrong answers: %d%s\n", total, suffix))
end
