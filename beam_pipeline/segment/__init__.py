"""Where turns are cut: speech detection and stereo turns (`turns`), mono diarization (`diarization`, with its
shipped speaker embedding and the script that fits it), and per-call talk statistics (`conversation`)."""
