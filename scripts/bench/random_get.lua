-- wrk: GET /api/v1/services/<id><suffix> for a random service of a random
-- tenant, each with its tenant's token.
-- Arguments: <ids file: "id tenant-index" lines> <tokens file: one per line, index 0 first> [suffix] [method]
local ids, tokens = {}, {}
local suffix = ""
local method = "GET"
local next_thread = 1

function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  for line in io.lines(args[2]) do
    tokens[#tokens + 1] = line
  end
  for line in io.lines(args[1]) do
    local id, tenant = line:match("^(%S+)%s+(%d+)$")
    if id then
      ids[#ids + 1] = { id, tokens[tonumber(tenant) + 1] }
    end
  end
  suffix = args[3] or ""
  method = args[4] or "GET"
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

function request()
  local pick = ids[math.random(#ids)]
  return wrk.format(method, "/api/v1/services/" .. pick[1] .. suffix, {
    ["Authorization"] = "Bearer " .. pick[2],
  })
end
