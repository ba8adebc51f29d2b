-- Requests for tools/load/run.sh: one visitor with an impression and 9 conversions, each
-- event with a random version-4 uuid as the SDKs send them. UUIDS=ordered
-- sends uuids that sort roughly in the order they are sent instead (as time-ordered
-- uuids do), unique per wrk thread, request and run (RUN). With PACE_MS set, each
-- connection waits that long before each request, to hold a rate below the maximum.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + (tonumber(os.getenv("RUN") or "0")) * 104729)
end
local pace = tonumber(os.getenv("PACE_MS") or "0")
if pace > 0 then
  function delay()
    return pace
  end
end
local r = math.random
local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0, 65535), r(0, 65535), r(0, 65535),
    r(0, 4095), 32768 + r(0, 16383), r(0, 65535), r(0, 65535), r(0, 65535))
end
local ordered = os.getenv("UUIDS") == "ordered"
-- The uuid of event `i` (0: the impression) of request number `counter`.
local function uuid(i)
  if not ordered then
    return uuid4()
  end
  local prefix = string.format("%08x-%04x-4000-8000-", (tonumber(os.getenv("RUN") or "0") * 16) + (tid or 0), counter % 65536)
  return prefix .. (i == 0 and "a" or i) .. string.sub(string.format("%012d", counter), 2)
end
function request()
  counter = counter + 1
  local n = string.format("%x-%012d", tid or 0, counter)
  local events = {}
  events[1] = '{"entity_id":"41001","key":"campaign_activated","timestamp":1793577600000,"uuid":"' .. uuid(0) .. '"}'
  for i = 1, 9 do
    events[#events + 1] = '{"entity_id":"90001","key":"purchase","timestamp":1793577600001,"revenue":4200,"uuid":"' .. uuid(i) .. '"}'
  end
  local body = '{"account_id":"12001","project_id":"12002","revision":"42","client_name":"python-sdk","client_version":"5.7.0","enrich_decisions":true,"visitors":[{"visitor_id":"user_' .. n .. '","attributes":[],"snapshots":[{"decisions":[{"campaign_id":"41001","experiment_id":"40001","variation_id":"40011"}],"events":[' .. table.concat(events, ",") .. ']}]}]}'
  return wrk.format(nil, "/v1/events", nil, body)
end
