-- wrk script: GET /Users?filter=userName eq "…" for userNames read from USERNAMES (one a line),
-- picked at random, in random case (Entra's matching query; userName is case-insensitive).
-- Counts answers that are not 200 with exactly one result.
dofile("bench/spread.lua")
local threads = {}

function setup(thread)
  spread(thread)
  table.insert(threads, thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  names = {}
  for line in io.lines(os.getenv("USERNAMES")) do
    names[#names + 1] = line
  end
  wrong = 0
  math.randomseed(os.time() + #threads)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

function request()
  local name = names[math.random(#names)]
  if math.random(2) == 1 then name = string.upper(name) end
  return wrk.format("GET", wrk.path .. "?filter=" .. urlencode('userName eq "' .. name .. '"'))
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"totalResults":1', 1, true) then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("wrong")
  end
  io.write(string.format("wrong answers: %d\n", total))
end
