// The seeded generator the fault engine uses, for every randomised test.
@_exported import struct VirtualCards.SeededRandom
