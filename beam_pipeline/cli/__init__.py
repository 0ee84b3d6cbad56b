"""What the command line offers: `callmood` (`main`), `callmood score` (`score_file`), and the Flex Template launcher."""
