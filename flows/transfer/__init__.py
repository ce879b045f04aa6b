"""What a transfer holds and how it is written: the dataset writers, define.xml and its HTML view, trace.csv, the
changes against the previous transfer, the packaged zip and the publish by rename."""
