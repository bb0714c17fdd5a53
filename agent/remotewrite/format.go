package remotewrite

import (
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Format is the wire format of a buffered request: what its body is and
// which headers it is sent with. Each record in the buffer carries its
// own, so a buffer written before an output's protocol was changed is
// still sent as what it holds.
type Format uint8

// The formats. The values are written to the buffer: never renumber.
const (
	// FormatRemoteWrite1 is Prometheus remote write 1.0: a snappy-
	// compressed prometheus.WriteRequest.
	FormatRemoteWrite1 Format = 0
	// FormatRemoteWrite2 is Prometheus remote write 2.0: a snappy-
	// compressed io.prometheus.write.v2.Request.
	FormatRemoteWrite2 Format = 1
	// FormatOTLP is OTLP/HTTP with a binary protobuf
	// ExportMetricsServiceRequest, uncompressed.
	FormatOTLP Format = 2
	// FormatOTLPGzip is FormatOTLP, gzip-compressed.
	FormatOTLPGzip Format = 3
)

func (f Format) valid() bool { return f <= FormatOTLPGzip }

func (f Format) String() string {
	switch f {
	case FormatRemoteWrite1:
		return "remote write 1.0"
	case FormatRemoteWrite2:
		return "remote write 2.0"
	case FormatOTLP, FormatOTLPGzip:
		return "OTLP"
	}
	return "format " + strconv.Itoa(int(f))
}

// Header values as Prometheus' own remote-write client sends them
// (storage/remote/client.go), and as the OTLP/HTTP specification asks.
const (
	versionHeader       = "X-Prometheus-Remote-Write-Version"
	contentTypeRW1      = "application/x-protobuf"
	contentTypeRW2      = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	contentTypeOTLP     = "application/x-protobuf"
	writtenSamplesRW2   = "X-Prometheus-Remote-Write-Samples-Written"
	writtenHistoRW2     = "X-Prometheus-Remote-Write-Histograms-Written"
	writtenExemplarsRW2 = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// setHeaders sets the headers that say what the body is.
func (f Format) setHeaders(h http.Header) {
	switch f {
	case FormatRemoteWrite1:
		h.Set("Content-Encoding", "snappy")
		h.Set("Content-Type", contentTypeRW1)
		h.Set(versionHeader, "0.1.0")
	case FormatRemoteWrite2:
		h.Set("Content-Encoding", "snappy")
		h.Set("Content-Type", contentTypeRW2)
		h.Set(versionHeader, "2.0.0")
	case FormatOTLP:
		h.Set("Content-Type", contentTypeOTLP)
	case FormatOTLPGzip:
		h.Set("Content-Type", contentTypeOTLP)
		h.Set("Content-Encoding", "gzip")
	}
}

// Encoded is one run's request, encoded once, as the buffer keeps it and the
// sender posts it.
type Encoded struct {
	Format Format
	// Body is the request body, compressed as Format says.
	Body []byte
	// Samples is the number of samples it carries, counted as Prometheus
	// stores them (a histogram of 10 buckets is 13), whatever the format,
	// so that the counts of every output of a job compare.
	Samples int
	// Oldest is the time of its oldest sample, in ms since the epoch.
	Oldest int64
}

func (f Format) otlp() bool { return f == FormatOTLP || f == FormatOTLPGzip }

// partialSuccess reads an OTLP ExportMetricsServiceResponse's
// partial_success: field 1, holding rejected_data_points (1, int64) and
// error_message (2, string). It is decoded by hand because the generated
// type lives in the package of OTLP's gRPC service, which would link gRPC
// into the agent for two fields. A body that is not protobuf, or is cut
// (the sender reads at most 64 KiB), says nothing.
func partialSuccess(contentType string, body []byte) rejection {
	if len(body) == 0 || !strings.HasPrefix(contentType, "application/x-protobuf") {
		return rejection{}
	}
	var r rejection
	forEachField(body, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if num != 1 || typ != protowire.BytesType {
			return
		}
		forEachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) {
			switch {
			case num == 1 && typ == protowire.VarintType:
				r.points = int64(n)
			case num == 2 && typ == protowire.BytesType:
				r.message = string(v)
			}
		})
	})
	return r
}

// forEachField calls fn with each field of a protobuf message: its bytes
// for a length-delimited field, its value for a varint. It stops at the
// first malformed field.
func forEachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64)) {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return
		}
		b = b[k:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return
		}
		b = b[k:]
		fn(num, typ, v, n)
	}
}
