/** A rotate that dies right after the 'secrets-created' step of a rollout is repaired by the next rotate (see fixtures/crash-scenario.ts). */
import "reflect-metadata";
import t from "tap";
import { crashScenario } from "./fixtures/crash-scenario.js";

t.test("a crash right after 'secrets-created' is repaired by the next rotate", (t) => crashScenario(t, "secrets-created"));
