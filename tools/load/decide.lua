-- Decisions over HTTP for wrk: MODE=ofrep (one flag, OFREP), bulk (every flag and
-- variable, OFREP), agent (Agent's /v1/decide of one flag). A random user each request.
local mode = os.getenv("MODE") or "ofrep"
local key = os.getenv("SDK_KEY") or "load"
local flag = os.getenv("FLAG") or "flag_0"
local countries = { "us", "de", "fr", "gb", "jp" }
-- RATE (requests/s over every connection of CONNECTIONS): each connection waits its
-- share before the next request, so latency is measured at that load, not at saturation.
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "32")
if rate > 0 then
  delay = function() return math.floor(connections * 1000 / rate) end
end

request = function()
  local user = "user_" .. math.random(1, 1000000)
  local country = countries[math.random(1, #countries)]
  local age = math.random(16, 70)
  if mode == "agent" then
    local body = '{"userId":"' .. user .. '","userAttributes":{"country":"' .. country .. '","age":' .. age .. '}}'
    return wrk.format("POST", "/v1/decide?keys=" .. flag,
      { ["Content-Type"] = "application/json", ["X-Optimizely-SDK-Key"] = key }, body)
  end
  local body = '{"context":{"targetingKey":"' .. user .. '","country":"' .. country .. '","age":' .. age .. '}}'
  local path = "/ofrep/v1/evaluate/flags"
  if mode == "ofrep" then path = path .. "/" .. flag end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end
