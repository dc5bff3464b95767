// Whether better-sqlite3 loads on this Node. The reference platform runs on the Node its
// better-sqlite3 was compiled for; .ci/run's Node 24 pass runs the unit tests on another
// Node, where the native module cannot load, and the SQLite tests skip there.
import Database from 'better-sqlite3';

export const sqliteHere: boolean = (() => {
  try {
    new Database(':memory:').close();
    return true;
  } catch (err) {
    console.warn(`skipping SQLite tests on Node ${process.version}: better-sqlite3 was built for another Node (${(err as Error).message.split('\n')[0]})`);
    return false;
  }
})();
