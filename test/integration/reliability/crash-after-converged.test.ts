/** A rotate that dies right after the 'converged' step of a rollout is repaired by the next rotate (see fixtures/crash-scenario.ts). */
import "reflect-metadata";
import t from "tap";
import { crashScenario } from "./fixtures/crash-scenario.js";

t.test("a crash right after 'converged' is repaired by the next rotate", (t) => crashScenario(t, "converged"));
