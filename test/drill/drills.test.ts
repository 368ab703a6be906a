/**
 * The drills that start clusters of servers, in one file so that one jest worker runs
 * them one after the other: the failover drill's loaded half runs a CPU hog per LB peer,
 * which starves the etcd lab's members (an election, a membership change that times out)
 * when both run at once. Each drill's own file says what it builds.
 */
import './etcd-gate.drill';
import './failover.drill';
