import t from "tap";
import { imageRepository, isDatabaseLike, isSwarmMtlsItself, shortName } from "../../../src/audit/service-facts.js";
import { auditContext, capturedInventory, editedService } from "../../fixtures/audit/load-audit-fixture.js";

void auditContext;
const inv = capturedInventory();
const withImage = (image: string, name = "svc", labels: Record<string, string> = {}) =>
  editedService(inv, "aud-clean", (spec) => {
    spec.TaskTemplate!.ContainerSpec!.Image = image;
    spec.Labels = labels;
  }, name);

t.test("imageRepository drops registry, tag and digest", async (t) => {
  t.equal(imageRepository("postgres:16"), "postgres");
  t.equal(imageRepository("registry.example.com:5000/team/Redis:7@sha256:00"), "team/redis");
  t.equal(imageRepository("localhost/swarm-mtls:1"), "swarm-mtls");
  t.equal(imageRepository("bitnami/mongodb"), "bitnami/mongodb");
  t.equal(imageRepository(undefined), "");
});

t.test("database-like: by image or by name, whole words only", async (t) => {
  for (const image of ["postgres:16", "docker.io/library/mysql:8", "bitnami/mongodb:7", "redis:7-alpine", "valkey/valkey", "mariadb", "postgis/postgis", "timescale/timescaledb"]) {
    t.ok(isDatabaseLike(withImage(image)), image);
  }
  t.ok(isDatabaseLike(withImage("busybox", "audit-x1-postgres")), "service name audit-x1-postgres");
  t.ok(isDatabaseLike(withImage("busybox", "shop_db", { "com.docker.stack.namespace": "shop" })), "short name db");
  t.ok(isDatabaseLike(withImage("busybox", "orders-db2")), "db2 word");
  for (const [image, name] of [["nginx", "web"], ["prometheuscommunity/postgres-exporter", "pg-exporter"], ["mongo-express", "mongo-ui"], ["redis-commander", "rc"], ["dpage/pgadmin4", "pgadmin"], ["busybox", "dbadmin"], ["edoburu/pgbouncer", "shop_pgbouncer"], ["traefik", "redistribute"]] as const) {
    t.notOk(isDatabaseLike(withImage(image, name)), `${image} ${name}`);
  }
});

t.test("swarm-mtls itself: role label or its own image, not the test images under its namespace", async (t) => {
  t.ok(isSwarmMtlsItself(withImage("swarm-mtls/ca:local")));
  t.ok(isSwarmMtlsItself(withImage("ghcr.io/acme/swarm-mtls:0.1")));
  t.ok(isSwarmMtlsItself(withImage("busybox", "ca", { "io.swarm-mtls.role": "ca" })));
  t.notOk(isSwarmMtlsItself(withImage("swarm-mtls/busybox:test")));
  t.notOk(isSwarmMtlsItself(withImage("swarm-mtls/echo:local")));
  t.notOk(isSwarmMtlsItself(withImage("evil/swarm-mtls-lookalike")));
});

t.test("shortName strips the stack prefix", async (t) => {
  t.equal(shortName(withImage("x", "shop_api", { "com.docker.stack.namespace": "shop" })), "api");
  t.equal(shortName(withImage("x", "shop_api")), "shop_api");
});
