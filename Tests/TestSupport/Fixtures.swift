// The light fixtures (vectors, transcripts, the seeded generator) for every suite that imports TestSupport.
@_exported import TestFixtures
