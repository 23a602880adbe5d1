import t from "tap";
import { parseSwarmEvent } from "../../../src/swarm/docker-client.js";

t.test("service update event from the engine", async (t) => {
  const line = JSON.stringify({
    Type: "service", Action: "update", Actor: { ID: "pxm330htjsb3", Attributes: { name: "api", "updatestate.new": "updating" } },
    scope: "swarm", time: 1764381431, timeNano: 1764381431123456789,
  });
  t.same(parseSwarmEvent(line), {
    type: "service", action: "update", id: "pxm330htjsb3", name: "api",
    time: new Date(1764381431123), attributes: { name: "api", "updatestate.new": "updating" },
  });
});

t.test("other types and garbage read as null", async (t) => {
  t.equal(parseSwarmEvent(JSON.stringify({ Type: "container", Action: "start" })), null);
  t.equal(parseSwarmEvent("{not json"), null);
  t.same(parseSwarmEvent(JSON.stringify({ Type: "secret", Action: "remove", time: 10 })), { type: "secret", action: "remove", id: "", time: new Date(10_000), attributes: {} });
});
