-- Argo CD health check for personas.bland-operator.dev/PersonaBinding and
-- AgentBinding (the two kinds share their conditions).
-- Healthy when the persona (or agent) matches the spec; Progressing while the operator has
-- not seen the latest generation or is retrying; Degraded when it is stalled;
-- Suspended when spec.suspend is set. Uses no string library, so it runs as a
-- resource customization in argocd-cm.
local hs = { status = "Progressing", message = "Waiting for the operator to observe the latest spec" }

if obj.status == nil or obj.status.observedGeneration == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  return hs
end

local ready, reconciling, stalled = nil, nil, nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Reconciling" then
      reconciling = c
    elseif c.type == "Stalled" then
      stalled = c
    end
  end
end
if ready == nil or (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= generation) then
  return hs
end

local message = ready.message or ""
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
elseif ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = message
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = (reconciling.reason or "Reconciling") .. ": " .. (reconciling.message or "")
else
  hs.status = "Progressing"
  hs.message = message
end
return hs
