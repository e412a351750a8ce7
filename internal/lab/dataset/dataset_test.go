package dataset_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/dataset"
)

var lim = event.DefaultLimits(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

func f64(v float64) *float64 { return &v }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func read(t *testing.T, name string, f dataset.Format, data string) []event.Event {
	t.Helper()
	evs, err := dataset.Read(strings.NewReader(data), name, f, lim)
	if err != nil {
		t.Fatalf("Read(%s, %s): %v", name, f, err)
	}
	return evs
}

func check(t *testing.T, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n%v", len(got), len(want), got)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Errorf("event %d:\n got %s\nwant %s", i, event.Encode(got[i]), event.Encode(want[i]))
		}
		if got[i].Time.Location() != time.UTC {
			t.Errorf("event %d: time not in UTC", i)
		}
	}
}

// wantErr checks that err is a *dataset.LineError at line, whose message
// names file:line and contains msg, and whose event reason is reason.
func wantErr(t *testing.T, err error, file string, line int, reason event.Reason, msg string) {
	t.Helper()
	var le *dataset.LineError
	if !errors.As(err, &le) {
		t.Fatalf("error %T %v is not a *dataset.LineError", err, err)
	}
	if le.File != file || le.Line != line {
		t.Errorf("LineError at %s:%d, want %s:%d (%v)", le.File, le.Line, file, line, err)
	}
	if got := event.ReasonOf(err); got != reason {
		t.Errorf("ReasonOf = %q, want %q (%v)", got, reason, err)
	}
	prefix := file + ":" + strconv.Itoa(line) + ": "
	if s := err.Error(); !strings.HasPrefix(s, prefix) || !strings.Contains(s, msg) {
		t.Errorf("error %q: want prefix %q and %q", s, prefix, msg)
	}
}

const dunnhumbyCSV = `"household_id","store_id","basket_id","product_id","quantity","sales_value","retail_disc","coupon_disc","coupon_match_disc","week","transaction_timestamp"
"2261","309","31625220889","940996",1,3.86,0.43,0,0,5,"2017-01-28T14:06:53-0500"
"511","316","32445856036","847901",2,1,0.69,0,0,13,"2017-03-26T13:22:21-0400"
"1038","340","31389956808","983659",0,0,0,0,0,3,"2017-01-13T20:15:04-0500"
"1038","340","31389956808","983659",0,0,0,0,0,3,"2017-01-13T20:15:04-0500"
`

func TestDunnhumby(t *testing.T) {
	want := []event.Event{
		{ID: "dunnhumby:transactions.csv:4", Type: event.Purchase, CustomerID: "1038", ItemID: "983659", Time: ts("2017-01-14T01:15:04Z"), Quantity: f64(0)},
		{ID: "dunnhumby:transactions.csv:5", Type: event.Purchase, CustomerID: "1038", ItemID: "983659", Time: ts("2017-01-14T01:15:04Z"), Quantity: f64(0)},
		{ID: "dunnhumby:transactions.csv:2", Type: event.Purchase, CustomerID: "2261", ItemID: "940996", Time: ts("2017-01-28T19:06:53Z"), Quantity: f64(1), Price: f64(3.86)},
		{ID: "dunnhumby:transactions.csv:3", Type: event.Purchase, CustomerID: "511", ItemID: "847901", Time: ts("2017-03-26T17:22:21Z"), Quantity: f64(2), Price: f64(0.5)},
	}
	t.Run("plain", func(t *testing.T) {
		check(t, read(t, "some/dir/transactions.csv", dataset.Dunnhumby, dunnhumbyCSV), want)
	})
	t.Run("CRLF", func(t *testing.T) {
		check(t, read(t, "transactions.csv", dataset.Dunnhumby, strings.ReplaceAll(dunnhumbyCSV, "\n", "\r\n")), want)
	})
	t.Run("gzip whatever the name", func(t *testing.T) {
		check(t, read(t, "transactions.csv", dataset.Dunnhumby, string(gz(t, dunnhumbyCSV))), want)
	})
	t.Run("columns reordered, upper case, RFC 3339", func(t *testing.T) {
		data := "TRANSACTION_TIMESTAMP,product_id,household_id,sales_value,quantity\n" +
			"2017-01-28T14:06:53-05:00,940996,2261,3.86,1\n"
		check(t, read(t, "transactions.csv", dataset.Dunnhumby, data), want[2:3])
	})
	t.Run("missing column", func(t *testing.T) {
		_, err := dataset.Read(strings.NewReader("household_id,product_id,quantity\n1,2,3\n"), "t.csv", dataset.Dunnhumby, lim)
		wantErr(t, err, "t.csv", 1, "", "sales_value, transaction_timestamp")
	})
	t.Run("bad timestamp", func(t *testing.T) {
		data := strings.Replace(dunnhumbyCSV, "2017-03-26T13:22:21-0400", "2017-03-26 13:22:21", 1)
		_, err := dataset.Read(strings.NewReader(data), "t.csv", dataset.Dunnhumby, lim)
		wantErr(t, err, "t.csv", 3, event.ReasonBadTimestamp, "transaction_timestamp")
	})
	t.Run("negative sales value", func(t *testing.T) {
		data := strings.Replace(dunnhumbyCSV, ",3.86,", ",-3.86,", 1)
		_, err := dataset.Read(strings.NewReader(data), "t.csv", dataset.Dunnhumby, lim)
		wantErr(t, err, "t.csv", 2, event.ReasonBadNumber, "price")
	})
	t.Run("bad quoting", func(t *testing.T) {
		data := dunnhumbyCSV + `"1","2","3","4"x,1,1,0,0,0,1,"2017-01-28T14:06:53-0500"` + "\n"
		_, err := dataset.Read(strings.NewReader(data), "t.csv", dataset.Dunnhumby, lim)
		wantErr(t, err, "t.csv", 6, "", "CSV")
	})
	t.Run("short record", func(t *testing.T) {
		data := dunnhumbyCSV + `"1","2"` + "\n"
		_, err := dataset.Read(strings.NewReader(data), "t.csv", dataset.Dunnhumby, lim)
		wantErr(t, err, "t.csv", 6, "", "wrong number of fields")
	})
	t.Run("empty", func(t *testing.T) {
		_, err := dataset.Read(strings.NewReader(""), "t.csv", dataset.Dunnhumby, lim)
		wantErr(t, err, "t.csv", 1, "", "empty file")
	})
}

const yoochooseCSV = "session_id,timestamp_ms,timestamp_utc,event_type,item_id,category,price,quantity\r\n" +
	"448834,1396321306083,2014-04-01T03:01:46.083Z,view,214820942,0,,\r\n" +
	"448834,1396321501985,2014-04-01T03:05:01.985Z,view,214827030,S,,\r\n" +
	"448834,1396321501985,2014-04-01T03:05:01.985Z,view,214827030,12,,\r\n" +
	"5163039,1396321306083,2014-06-23T09:59:18.423Z,view,214551909,2088919107,,\r\n" +
	"129948,1396328689877,2014-04-01T05:04:49.877Z,purchase,214826803,,4188,2\r\n" +
	"483128,1396328689877,2014-04-07T17:01:02.805Z,purchase,214834865,,0,0\r\n" +
	"1,1396321306082,x,view,9,1,,\r\n"

func TestYoochoose(t *testing.T) {
	id := func(line string) string { return "yoochoose:events.csv.gz:" + line }
	want := []event.Event{
		{ID: id("8"), Type: event.View, CustomerID: "1", ItemID: "9", Time: ts("2014-04-01T03:01:46.082Z"), Category: "1"},
		{ID: id("2"), Type: event.View, CustomerID: "448834", ItemID: "214820942", Time: ts("2014-04-01T03:01:46.083Z")},
		{ID: id("5"), Type: event.View, CustomerID: "5163039", ItemID: "214551909", Time: ts("2014-04-01T03:01:46.083Z")},
		{ID: id("3"), Type: event.View, CustomerID: "448834", ItemID: "214827030", Time: ts("2014-04-01T03:05:01.985Z")},
		{ID: id("4"), Type: event.View, CustomerID: "448834", ItemID: "214827030", Time: ts("2014-04-01T03:05:01.985Z"), Category: "12"},
		{ID: id("6"), Type: event.Purchase, CustomerID: "129948", ItemID: "214826803", Time: ts("2014-04-01T05:04:49.877Z"), Price: f64(4188), Quantity: f64(2)},
		{ID: id("7"), Type: event.Purchase, CustomerID: "483128", ItemID: "214834865", Time: ts("2014-04-01T05:04:49.877Z")},
	}
	check(t, read(t, "/data/events.csv.gz", dataset.Yoochoose, string(gz(t, yoochooseCSV))), want)

	t.Run("minimal columns", func(t *testing.T) {
		got := read(t, "events.csv.gz", dataset.Yoochoose, "item_id,event_type,timestamp_ms,session_id\n9,view,1396321306082,1\n")
		check(t, got, []event.Event{{ID: id("2"), Type: event.View, CustomerID: "1", ItemID: "9", Time: ts("2014-04-01T03:01:46.082Z")}})
	})
	for _, tc := range []struct {
		name, row string
		reason    event.Reason
	}{
		{"unknown type", "1,1396321306082,x,click,9,1,,", event.ReasonUnknownType},
		{"seconds", "1,1396321306,x,view,9,1,,", event.ReasonTimeOutOfWindow},
		{"bad ms", "1,2014-04-01,x,view,9,1,,", event.ReasonBadTimestamp},
		{"bad price", "1,1396321306082,x,purchase,9,,abc,1", event.ReasonBadNumber},
		{"empty session", ",1396321306082,x,view,9,1,,", event.ReasonMissingField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Split(yoochooseCSV, "\r\n")[0] + "\n" + tc.row + "\n"
			_, err := dataset.Read(strings.NewReader(data), "y.csv", dataset.Yoochoose, lim)
			wantErr(t, err, "y.csv", 2, tc.reason, "")
		})
	}
}

func TestMovieLens(t *testing.T) {
	data := "196\t242\t3\t881250949\n186\t302\t3\t891717742\r\n22\t377\t1\t881250949\n\n"
	id := func(line string) string { return "movielens:u.data:" + line }
	want := []event.Event{
		{ID: id("1"), Type: event.Purchase, CustomerID: "196", ItemID: "242", Time: ts("1997-12-04T15:55:49Z")},
		{ID: id("3"), Type: event.Purchase, CustomerID: "22", ItemID: "377", Time: ts("1997-12-04T15:55:49Z")},
		{ID: id("2"), Type: event.Purchase, CustomerID: "186", ItemID: "302", Time: ts("1998-04-04T19:22:22Z")},
	}
	check(t, read(t, "u.data", dataset.MovieLens, data), want)
	check(t, read(t, "u.data", dataset.MovieLens, string(gz(t, data))), want)
	check(t, read(t, "u.data", dataset.MovieLens, strings.ReplaceAll(data, "\t", "::")), want)
	// No trailing newline.
	check(t, read(t, "u.data", dataset.MovieLens, strings.TrimRight(data, "\n")), want)

	_, err := dataset.Read(strings.NewReader(data+"1 2 3 4\n"), "u.data", dataset.MovieLens, lim)
	wantErr(t, err, "u.data", 5, "", "want 4 fields")
	_, err = dataset.Read(strings.NewReader(data+"1\t2\t3\t8.8e8\n"), "u.data", dataset.MovieLens, lim)
	wantErr(t, err, "u.data", 5, event.ReasonBadTimestamp, "unix_seconds")
	_, err = dataset.Read(strings.NewReader("1\t2\t3\t88125094\n"), "u.data", dataset.MovieLens, lim)
	wantErr(t, err, "u.data", 1, event.ReasonTimeOutOfWindow, "1972")
}

func exampleEvents(name string) []event.Event {
	return []event.Event{
		{ID: "events:" + name + ":5", Type: event.Purchase, CustomerID: "c-7", ItemID: "sku-2002", Time: ts("2024-05-01T09:00:00Z")},
		{ID: "web-0003", Type: event.Purchase, CustomerID: "c-42", ItemID: "sku-1001", Time: ts("2024-05-01T09:17:30Z"), Quantity: f64(2), Price: f64(19.99), Category: "kitchen"},
		{ID: "web-0001", Type: event.View, CustomerID: "c-42", ItemID: "sku-1001", Time: ts("2024-05-01T09:15:00.250Z"), Category: "kitchen"},
		{ID: "web-0002", Type: event.View, CustomerID: "c-42", ItemID: "sku-2002", Time: ts("2024-05-01T09:16:00Z")},
	}
}

func TestEventsExamples(t *testing.T) {
	// The example files of docs/events.md.
	for _, name := range []string{"example.jsonl", "example.csv"} {
		t.Run(name, func(t *testing.T) {
			evs, err := dataset.Load(filepath.Join("..", "..", "..", "testdata", "events", name), dataset.Events, lim)
			if err != nil {
				t.Fatal(err)
			}
			want := exampleEvents(name)
			// sorted by time
			want = []event.Event{want[0], want[2], want[3], want[1]}
			check(t, evs, want)
		})
	}
}

func TestEventsJSONLines(t *testing.T) {
	data := "\n  " + `{"event_id":"a","type":"view","customer_id":"c","item_id":"i","ts":1714554960000}` + "\r\n" +
		"\t\n" +
		`{"type":"purchase","customer_id":"c","item_id":"i","ts":"2024-05-01T09:16:00Z","event_id":null}` + "\n" +
		`{"event_id":"b","type":"view","customer_id":"c","item_id":"j","ts":1714554900000}`
	want := []event.Event{
		{ID: "b", Type: event.View, CustomerID: "c", ItemID: "j", Time: ts("2024-05-01T09:15:00Z")},
		{ID: "a", Type: event.View, CustomerID: "c", ItemID: "i", Time: ts("2024-05-01T09:16:00Z")},
		{ID: "events:my_file__1_.jsonl:4", Type: event.Purchase, CustomerID: "c", ItemID: "i", Time: ts("2024-05-01T09:16:00Z")},
	}
	check(t, read(t, "my file (1).jsonl", dataset.Events, data), want)
	check(t, read(t, "my file (1).jsonl", dataset.Events, "\xef\xbb\xbf"+data), want) // BOM
	check(t, read(t, "my file (1).jsonl", dataset.Events, string(gz(t, data))), want)

	if evs := read(t, "empty.jsonl", dataset.Events, "\n \n"); len(evs) != 0 {
		t.Errorf("blank file gave %d events", len(evs))
	}
	bad := data + "\n" + `{"event_id":"x","type":"view","customer_id":"c}","item_id":"i","ts":1714554960000}` + "\n"
	_, err := dataset.Read(strings.NewReader(bad), "e.jsonl", dataset.Events, lim)
	wantErr(t, err, "e.jsonl", 6, event.ReasonBadIDChars, "customer_id: bad_id_chars")
	_, err = dataset.Read(strings.NewReader(data+"\n{\n"), "e.jsonl", dataset.Events, lim)
	wantErr(t, err, "e.jsonl", 6, event.ReasonInvalidJSON, "invalid_json")
	// A long line: read whole (not cut at the buffer size), then too_large.
	long := `{"event_id":"a","type":"view","customer_id":"c","item_id":"i","ts":1714554960000,"pad":"` + strings.Repeat("x", 200<<10) + `"}`
	_, err = dataset.Read(strings.NewReader(data+"\n"+long+"\n"), "e.jsonl", dataset.Events, lim)
	wantErr(t, err, "e.jsonl", 6, event.ReasonTooLarge, "too_large")
	big := lim
	big.MaxPayloadBytes = 1 << 20
	evs, err := dataset.Read(strings.NewReader(data+"\n"+long+"\n"), "e.jsonl", dataset.Events, big)
	if err != nil || len(evs) != 4 {
		t.Errorf("long line with a 1 MiB limit: %d events, %v", len(evs), err)
	}
}

func TestEventsCSV(t *testing.T) {
	data := "Extra,TS,Item_ID,type,customer_id,quantity,event_id\n" +
		`"a, ""quoted"" field",2024-05-01T11:17:30.123456+02:00,i1,purchase,c1,3,e1` + "\n" +
		`"multi` + "\n" + `line",1714554900000,i2,view,c1,,` + "\n" +
		",1714554900000,i3,view,c2,,e3\n"
	want := []event.Event{
		{ID: "events:mine.csv:3", Type: event.View, CustomerID: "c1", ItemID: "i2", Time: ts("2024-05-01T09:15:00Z")},
		{ID: "e3", Type: event.View, CustomerID: "c2", ItemID: "i3", Time: ts("2024-05-01T09:15:00Z")},
		{ID: "e1", Type: event.Purchase, CustomerID: "c1", ItemID: "i1", Time: ts("2024-05-01T09:17:30.123Z"), Quantity: f64(3)},
	}
	check(t, read(t, "mine.csv", dataset.Events, data), want)
	check(t, read(t, "mine.csv", dataset.Events, strings.ReplaceAll(data, "\n", "\r\n")), want)

	for _, tc := range []struct {
		name, data string
		line       int
		reason     event.Reason
		msg        string
	}{
		{"missing column", "customer_id,item_id,ts\nc,i,1714554900000\n", 1, "", "lacks column(s) type"},
		{"duplicate column", "customer_id,item_id,type,ts,TS\n", 1, "", "appears twice"},
		{"bad ts", "customer_id,item_id,type,ts\nc,i,view,1714554900000\nc,i,view,2024-05-01\n", 3, event.ReasonBadTimestamp, "2024-05-01"},
		{"missing ts", "customer_id,item_id,type,ts\nc,i,view,\n", 2, event.ReasonMissingField, "ts: missing_field"},
		{"bad quantity", "customer_id,item_id,type,ts,quantity\nc,i,view,1714554900000,two\n", 2, event.ReasonBadNumber, "quantity"},
		{"negative price", "customer_id,item_id,type,ts,price\nc,i,view,1714554900000,-1\n", 2, event.ReasonBadNumber, "price"},
		{"space in id", "customer_id,item_id,type,ts\nc ,i,view,1714554900000\n", 2, event.ReasonBadIDChars, "customer_id"},
		{"bad category", "customer_id,item_id,type,ts,category\nc,i,view,1714554900000,a|b\n", 2, event.ReasonBadIDChars, "category"},
		{"unknown type", "customer_id,item_id,type,ts\nc,i,rating,1714554900000\n", 2, event.ReasonUnknownType, "rating"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dataset.Read(strings.NewReader(tc.data), "mine.csv", dataset.Events, lim)
			wantErr(t, err, "mine.csv", tc.line, tc.reason, tc.msg)
		})
	}
}

func TestStableOrder(t *testing.T) {
	// Equal times keep line order; the result is sorted by time.
	var b strings.Builder
	b.WriteString("customer_id,item_id,type,ts\n")
	times := []string{"3", "1", "2", "1", "3", "1"}
	for i, s := range times {
		b.WriteString("c,i" + strconv.Itoa(i) + ",view,150000000000" + s + "\n")
	}
	evs := read(t, "o.csv", dataset.Events, b.String())
	var got []string
	for _, e := range evs {
		got = append(got, e.ItemID)
	}
	if want := "i1 i3 i5 i2 i0 i4"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := dataset.Load("does/not/exist.csv", dataset.Events, lim); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
	if _, err := dataset.Read(strings.NewReader(""), "x", dataset.Format("parquet"), lim); err == nil ||
		!strings.Contains(err.Error(), "dunnhumby, yoochoose, movielens, events") {
		t.Errorf("Read(unknown format) = %v", err)
	}
	// Gzip magic but a broken stream.
	_, err := dataset.Read(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0}), "x.gz", dataset.Events, lim)
	if err == nil || !strings.Contains(err.Error(), "x.gz") {
		t.Errorf("Read(broken gzip) = %v", err)
	}
	data := gz(t, strings.Repeat("1\t2\t3\t881250949\n", 10))
	_, err = dataset.Read(bytes.NewReader(data[:len(data)-10]), "u.data.gz", dataset.MovieLens, lim)
	if err == nil || !strings.Contains(err.Error(), "u.data.gz") {
		t.Errorf("Read(truncated gzip) = %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"dunnhumby", "yoochoose", "movielens", "events", " Events "} {
		f, err := dataset.ParseFormat(s)
		if err != nil || string(f) != strings.ToLower(strings.TrimSpace(s)) {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	_, err := dataset.ParseFormat("csv")
	if err == nil || !strings.Contains(err.Error(), `"csv"`) || !strings.Contains(err.Error(), "dunnhumby, yoochoose, movielens, events") {
		t.Errorf("ParseFormat(csv) error = %v", err)
	}
	if got := dataset.Formats(); len(got) != 4 {
		t.Errorf("Formats() = %v", got)
	}
}

func TestDerivedID(t *testing.T) {
	for _, tc := range []struct {
		f    dataset.Format
		name string
		line int
		max  int
		want string
	}{
		{dataset.Dunnhumby, "/x/transactions.csv.gz", 12345, 0, "dunnhumby:transactions.csv.gz:12345"},
		{dataset.Events, `C:\odd name{1}#~|.csv`, 2, 128, "events:C:_odd_name_1____.csv:2"},
		{dataset.Events, "", 2, 128, "events:input:2"},
		{dataset.MovieLens, strings.Repeat("n", 200), 7, 0, "movielens:" + strings.Repeat("n", 128-len("movielens::7")) + ":7"},
		{dataset.MovieLens, "u.data", 7, 20, "movielens:u.data:7"},
		{dataset.MovieLens, "u.data.gz", 7, 16, "movielens:u.da:7"},
	} {
		got := dataset.DerivedID(tc.f, tc.name, tc.line, tc.max)
		if got != tc.want {
			t.Errorf("DerivedID(%s, %q, %d, %d) = %q, want %q", tc.f, tc.name, tc.line, tc.max, got, tc.want)
		}
		if err := event.ValidID(got, tc.max); err != nil {
			t.Errorf("DerivedID %q: %v", got, err)
		}
	}
}
