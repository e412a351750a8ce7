package lag

import "testing"

func TestAppliedLag(t *testing.T) {
	tests := []struct {
		name                string
		end, start, applied int64
		want                int64
	}{
		{"empty partition", 0, 0, -1, 0},
		{"nothing applied yet", 10, 0, -1, 10},
		{"some applied", 10, 0, 3, 6},
		{"caught up", 10, 0, 9, 0},
		{"retention deleted messages nothing applied", 10, 4, -1, 6},
		{"retention deleted messages past the progress", 10, 4, 1, 6},
		{"progress past what retention deleted", 10, 4, 6, 3},
		{"retention deleted everything", 10, 10, -1, 0},
		{"progress ahead of the end (topic recreated)", 5, 0, 9, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppliedLag(tc.end, tc.start, tc.applied); got != tc.want {
				t.Fatalf("AppliedLag(end %d, start %d, applied %d) = %d, want %d", tc.end, tc.start, tc.applied, got, tc.want)
			}
		})
	}
}
