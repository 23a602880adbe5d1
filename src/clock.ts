/**
 * The clock, as a parameter: the rotation and serving layers never read the time themselves, they are given a
 * `Clock` (tests move it; `serve` passes the system clock).
 */
export type Clock = () => Date;

/** The system's clock. */
export const systemClock: Clock = () => new Date();

/** Seconds between two instants of a clock, for durations in metrics and logs. */
export const secondsSince = (clock: Clock, start: Date): number => (clock().getTime() - start.getTime()) / 1000;
