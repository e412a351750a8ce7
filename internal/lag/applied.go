package lag

// AppliedLag is the number of messages of a partition that the state in
// Redis has not applied yet: those from the one after applied (the progress
// stored with the data, -1 when none) to end (the broker's next offset),
// but never those before start (the first offset the broker still holds):
// messages retention deleted can no longer be applied, so they are not
// waiting. It is the one formula of applied lag: the lag monitor, `lag`,
// replay.Wait (replay --wait, the bench, eval -via-kafka) and the tests'
// waits (testenv.AppliedLag) all use it.
func AppliedLag(end, start, applied int64) int64 {
	return max(0, end-max(applied+1, start))
}
