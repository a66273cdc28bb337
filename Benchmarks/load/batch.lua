-- wrk: batch requests of 100 Ed25519 signatures each, with auth and audit on.
-- Env: CUSTOS_TOKEN, CUSTOS_TENANT, CUSTOS_KEY.
-- Bodies are prepared once (256 per wrk thread, every message distinct); each
-- response is checked: 200 and no failed item.
local token = os.getenv("CUSTOS_TOKEN")
local path = "/v1/tenants/" .. os.getenv("CUSTOS_TENANT") .. "/sign"
local key = os.getenv("CUSTOS_KEY")
local pool, next_index = {}, 0

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  local id = thread_id or 0
  local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  for b = 1, 256 do
    local items = {}
    for i = 1, 100 do
      -- 44 base64 characters (33 bytes) that differ per item.
      local message = ("MDAw" .. string.format("%040d", (id * 1000 + b) * 1000 + i)):sub(1, 44)
      items[i] = '{"alias":"' .. key .. '","message":"' .. message .. '"}'
    end
    pool[b] = wrk.format("POST", path, headers, '{"items":[' .. table.concat(items, ",") .. ']}')
  end
end

function request()
  next_index = next_index % #pool + 1
  return pool[next_index]
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"failed":0', 1, true) then
    error("unexpected response " .. status .. ": " .. body:sub(1, 300))
  end
end
