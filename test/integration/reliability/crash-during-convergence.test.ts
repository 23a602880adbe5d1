/**
 * A rotate that dies while a 2-replica service is half rolled out (one task on the new certificate, one on the old)
 * is repaired by the next rotate (see fixtures/crash-scenario.ts).
 */
import "reflect-metadata";
import t from "tap";
import { crashScenario } from "./fixtures/crash-scenario.js";

t.test("a crash during convergence (one task new, one old) is repaired by the next rotate", (t) => crashScenario(t, "converging"));
