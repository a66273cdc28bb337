-- wrk: one Ed25519 signature per request, with auth and audit on.
-- Env: CUSTOS_TOKEN, CUSTOS_TENANT, CUSTOS_KEY; optional CUSTOS_DELAY_MS (mean think
-- time per connection, to hold a rate below the peak for latency measurements).
-- Think times are drawn from an exponential distribution, so the connections send
-- independently, as separate clients would. A fixed think time lines them up: the
-- group commit answers many at once, they all wait the same time and come back
-- together, and the latency measured is that of the bursts the load tool made.
-- Requests are prepared once (4,096 distinct 33-byte messages per wrk thread), so the
-- load tool spends its share of the shared cores on the socket, not in Lua. wrk counts
-- every non-2xx answer; run.sh fails the run if there is one.
local token = os.getenv("CUSTOS_TOKEN")
local path = "/v1/tenants/" .. os.getenv("CUSTOS_TENANT") .. "/keys/" .. os.getenv("CUSTOS_KEY") .. "/sign"
local think = tonumber(os.getenv("CUSTOS_DELAY_MS") or "0")
local pool, next_index = {}, 0

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  local id = thread_id or 0
  local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  for i = 1, 4096 do
    -- "MDAw" is base64 of "000"; 40 more digits make 33 bytes that differ per request.
    local message = ("MDAw" .. string.format("%040d", id * 1000000 + i)):sub(1, 44)
    pool[i] = wrk.format("POST", path, headers, '{"message":"' .. message .. '"}')
  end
end

function request()
  next_index = next_index % #pool + 1
  return pool[next_index]
end

function delay()
  if think == 0 then return 0 end
  return math.floor(-think * math.log(1 - math.random()) + 0.5)
end
