package block

import "time"

// timeOf converts a header nTime to the time.Time btcd's header holds.
func timeOf(ntime uint32) time.Time { return time.Unix(int64(ntime), 0) }
