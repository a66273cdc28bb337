-- wrk: batch requests of 100 Ed25519 signatures each, with auth and audit on.
-- Env: CUSTOS_TOKEN, CUSTOS_TENANT, CUSTOS_KEY.
local token = os.getenv("CUSTOS_TOKEN")
local path = "/v1/tenants/" .. os.getenv("CUSTOS_TENANT") .. "/sign"
local key = os.getenv("CUSTOS_KEY")
local counter = 0

function request()
  local items = {}
  for i = 1, 100 do
    counter = counter + 1
    -- 32 ASCII digits as base64 without padding issues: 33 bytes → 44 characters.
    items[i] = '{"alias":"' .. key .. '","message":"' .. string.format("MDAw%040d", counter):sub(1, 44) .. '"}'
  end
  local body = '{"items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"failed":0', 1, true) then
    error("unexpected response " .. status .. ": " .. body:sub(1, 300))
  end
end
