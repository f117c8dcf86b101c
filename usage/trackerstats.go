package usage

// TrackerStats counts what a Tracker did with the records it was given.
type TrackerStats struct {
	// Written counts records the store accepted.
	Written int64
	// Dropped counts records that were lost: the queue was full, or the
	// store kept failing until the record's retries ran out.
	Dropped int64
	// Pending counts records queued or being written, neither written nor
	// dropped yet. After a Close that gave up waiting, Dropped plus
	// Pending is what did not reach the store, counting a batch that the
	// store was still writing, which may yet land.
	Pending int64
}
