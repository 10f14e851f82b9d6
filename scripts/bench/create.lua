-- wrk: POST /api/v1/services with a name no other request uses.
-- Arguments: <token> <run tag>
local token, tag = "", ""
local counter = 0
local next_thread = 1

function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  token, tag = args[1], args[2]
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"bench %s %d-%d","type":"bench","base_url":"https://api.example.com/v1"}',
    tag, thread_number, counter)
  return wrk.format("POST", "/api/v1/services", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
