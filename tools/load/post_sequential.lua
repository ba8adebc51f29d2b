-- Like post.lua, but with uuids that sort roughly in the order they are sent (as
-- time-ordered uuids, version 7, do), so the log's uuid keys are inserted near each
-- other rather than at random: POST_LUA=tools/load/post_sequential.lua tools/load/run.sh
-- uuids unique per wrk thread, request and run (RUN environment variable). With PACE_MS
-- set, each connection waits that long before each request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
local pace = tonumber(os.getenv("PACE_MS") or "0")
if pace > 0 then
  function delay()
    return pace
  end
end
function request()
  counter = counter + 1
  local prefix = string.format("%08x-%04x-4000-8000-", (tonumber(os.getenv("RUN") or "0") * 16) + (tid or 0), counter % 65536)
  local n = string.format("%012d", counter)
  local events = {}
  events[1] = '{"entity_id":"41001","key":"campaign_activated","timestamp":1793577600000,"uuid":"' .. prefix .. 'a' .. string.sub(n, 2) .. '"}'
  for i = 1, 9 do
    events[#events + 1] = '{"entity_id":"90001","key":"purchase","timestamp":1793577600001,"revenue":4200,"uuid":"' .. prefix .. i .. string.sub(n, 2) .. '"}'
  end
  local body = '{"account_id":"12001","project_id":"12002","revision":"42","client_name":"python-sdk","client_version":"5.7.0","enrich_decisions":true,"visitors":[{"visitor_id":"user_' .. n .. '","attributes":[],"snapshots":[{"decisions":[{"campaign_id":"41001","experiment_id":"40001","variation_id":"40011"}],"events":[' .. table.concat(events, ",") .. ']}]}]}'
  return wrk.format(nil, "/v1/events", nil, body)
end
