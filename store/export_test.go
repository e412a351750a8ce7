package store

// ReadRowsByIndexOnly makes st read every row of a state with row indexes
// by its index, however much of the row the index names (readIndexes reads
// such rows whole): a test comparing reads by the index with whole ones
// needs every row read by its index.
func ReadRowsByIndexOnly(st *Store) { st.Lists.byIndexOnly = true }

// ShortlistAtLeast is how many candidates a batch's hinted rows must be
// able to leave unread for a shortlisted read to judge them.
const ShortlistAtLeast = shortlistAtLeast
