#!/usr/bin/env bash
# Cross-builds release aarch64 binaries of posd for a device image, from
# Debian's own Swift (sid's swiftlang 6.2.3) on an x86_64 Debian 12 bench:
#
#   scripts/cross-build.sh debian12|debian13 [PRODUCT...]     (default product: posd)
#
# PRODUCT pure-tests (debian13 only): the pure test suites (swift-testing,
# debug, the Swift runtime shared) as .build-aarch64-debian13/pure-tests, for
# scripts/device-test.sh. PRODUCT tests: the whole package, every suite, tool
# and simulator, the same way, left in .build-aarch64-tests/ (the proof that
# all of it compiles on Swift 6.2; scripts/device-test.sh suites runs it).
#
# Needs root (mmdebstrap, chroot, bind mounts in a private mount namespace)
# and Debian's archive; packages resolve from the local Swift package mirror.
# Everything it makes lives under .build-cross/ (POSD_CROSS_DIR): an amd64
# sid chroot with the compiler, arm64 roots of the device images with sid's
# static Swift runtime copied in, and a Swift SDK bundle naming them.
# Binaries land in .build-aarch64-<image>/release/.
#
# Both images are built against Debian 12's C library (glibc 2.36, the older
# of the two): glibc keeps every old symbol version, so the binary runs on
# Debian 13's 2.41 too, which is the usual way to build for several Linux
# releases at once. What differs is libgpiod: Debian 12 has v1 (libgpiod.so.2),
# Debian 13 v2 (libgpiod.so.3), and GPIOD's C binding follows the header it
# is built with. So the Debian 13 build root is Debian 12's with Debian 13's
# libgpiod in place of 1.6, both builds share one scratch directory
# (.build-aarch64/), and building the second image recompiles only the GPIO
# binding and what imports it, then links. scripts/cross/glibc-compat.c
# supplies the six glibc 2.38+ symbols sid's Swift runtime takes. Facts and
# pitfalls: README, "Building for a device".
set -euo pipefail

image=${1:?usage: $0 debian12|debian13 [PRODUCT...]}
shift
products=("${@:-posd}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${POSD_CROSS_DIR:-$repo/.build-cross}
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || echo http://deb.debian.org/debian)}
case "$image" in
  debian12|debian13) ;;
  *) echo "cross-build: unknown image $image (debian12, debian13)" >&2; exit 64 ;;
esac

say() { echo "cross-build: $*" >&2; }
need() { command -v "$1" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
need mmdebstrap mmdebstrap
mkdir -p "$work"
# sid's index in an archive snapshot may be past its Valid-Until.
strap() { mmdebstrap --quiet --aptopt='Acquire::Check-Valid-Until "false"' "$@" "$mirror"; }

toolchain=$work/sid-amd64
if [ ! -e "$toolchain/usr/libexec/swift/bin/swift" ]; then  # (usr/bin/swift is an absolute link)
  say "making the compiler chroot (sid, swiftlang)"
  rm -rf "$toolchain"
  strap --variant=apt --architectures=amd64 \
    --include=swiftlang,libswiftlang,swiftlang-dev,git,ca-certificates,pkg-config,libc6-dev,libpcsclite-dev,libsqlite3-dev,libssl-dev,libgpiod-dev,zlib1g-dev \
    sid "$toolchain"
fi

runtime=$work/sid-arm64-swift
if [ ! -d "$runtime/usr/libexec/swift/lib/swift_static" ]; then
  say "fetching sid's aarch64 Swift runtime"
  rm -rf "$runtime"
  strap --variant=extract --architectures=arm64 --include=libswiftlang,swiftlang sid "$runtime"
fi

# An arm64 root of SUITE's -dev packages with the Swift runtime (modules,
# static libraries, clang's builtin headers; not its compiler) copied in.
make_root() {
  local suite=$1 gcc=$2 root=$3
  [ -e "$root/.complete" ] && return
  say "making the $suite arm64 root"
  rm -rf "$root"
  strap --variant=extract --architectures=arm64 \
    --include=libc6-dev,zlib1g-dev,libstdc++-$gcc-dev,libgcc-$gcc-dev,libpcsclite-dev,libpcsclite1,libsqlite3-dev,libssl-dev,libgpiod-dev \
    "$suite" "$root"
  # Debian 13 is merged-/usr, but an extracted root lacks the top-level links
  # (usr-is-merged makes them when installed): its linker scripts name /lib/….
  for dir in lib lib64 bin sbin; do
    if [ ! -e "$root/$dir" ] && [ -d "$root/usr/$dir" ]; then ln -s "usr/$dir" "$root/$dir"; fi
  done
  mkdir -p "$root/usr/libexec/swift/lib"
  (cd "$runtime/usr/libexec/swift/lib" && tar cf - --exclude=swift/host --exclude=swift/embedded swift swift_static clang) \
    | (cd "$root/usr/libexec/swift/lib" && tar xf -)
  ln -sfn ../libexec/swift/lib/swift "$root/usr/lib/swift"
  ln -sfn ../libexec/swift/lib/swift_static "$root/usr/lib/swift_static"
  # The -dev packages' absolute links (libm.so -> /lib/...) would resolve on the
  # bench, or lld would quietly take the static library: make them relative.
  find "$root/usr" -type l -lname '/*' | while read -r link; do
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$(readlink "$link")")" "$link"
  done
  touch "$root/.complete"
}

make_root bookworm 12 "$work/debian12-arm64"   # glibc 2.36, libgpiod 1.6
build_root=$work/debian12-arm64
if [ "$image" = debian13 ]; then
  make_root trixie 14 "$work/debian13-arm64"   # glibc 2.41, libgpiod 2.x: the image, for running under qemu
  build_root=$work/debian13-build-arm64
  if [ ! -e "$build_root/.complete" ]; then
    say "making the debian13 build root: debian12's with debian13's libgpiod"
    rm -rf "$build_root" "$build_root.partial"
    cp -al "$work/debian12-arm64" "$build_root.partial"   # hard links: unchanged files stay the same files
    lib=usr/lib/aarch64-linux-gnu
    rm -f "$build_root.partial/usr/include/gpiod.h" "$build_root.partial/$lib"/libgpiod.* "$build_root.partial/$lib/pkgconfig/libgpiod.pc"
    cp -a "$work/debian13-arm64/usr/include/gpiod.h" "$build_root.partial/usr/include/"
    cp -a "$work/debian13-arm64/$lib"/libgpiod.* "$build_root.partial/$lib/"
    cp -a "$work/debian13-arm64/$lib/pkgconfig/libgpiod.pc" "$build_root.partial/$lib/pkgconfig/"
    mv "$build_root.partial" "$build_root"
  fi
fi

# A Swift SDK bundle posd-VARIANT for the root at ROOT (a path as the chroot
# sees it: /cross = $work), with TOOLSET_EXTRA after the compiler's entry.
write_sdk() {
  local variant=$1 root=$2 extra=$3 bundle=$work/sdk/posd-$1.artifactbundle
  mkdir -p "$bundle/$variant"
  cat > "$bundle/info.json" <<JSON
{"schemaVersion": "1.0", "artifacts": {"posd-$variant": {"type": "swiftSDK", "version": "1", "variants": [{"path": "$variant"}]}}}
JSON
  cat > "$bundle/$variant/swift-sdk.json" <<JSON
{"schemaVersion": "4.0", "targetTriples": {"aarch64-unknown-linux-gnu": {
  "sdkRootPath": "$root",
  "swiftResourcesPath": "$root/usr/lib/swift",
  "swiftStaticResourcesPath": "$root/usr/lib/swift_static",
  "toolsetPaths": ["toolset.json"]}}}
JSON
  cat > "$bundle/$variant/toolset.json" <<JSON
{"schemaVersion": "1.0", "swiftCompiler": {"extraCLIOptions": ["-use-ld=lld", "-no-toolchain-stdlib-rpath"]}$extra}
JSON
}
# The firmware: the build root, bound at /cross/device-arm64 for the build, and
# glibc-compat.o linked in.
mkdir -p "$work/device-arm64"
write_sdk device /cross/device-arm64 $',\n "linker": {"extraCLIOptions": ["/cross/glibc-compat.o"]}'
# The pure test suites link sid's shared Swift runtime, which needs glibc
# 2.38+: they are built against Debian 13's own root, with no compat object.
write_sdk tests /cross/debian13-arm64 ""

mkdir -p "$toolchain/cross" "$toolchain/src" "$toolchain/opt/swift-packages"
[ -f /etc/gitconfig ] && cp /etc/gitconfig "$toolchain/etc/gitconfig"
cp "$repo/scripts/cross/glibc-compat.c" "$work/glibc-compat.c"

# Inside a private mount namespace: the binds vanish with it.
unshare --mount bash -s "$toolchain" "$work" "$repo" "$build_root" "${products[@]}" <<'INNER'
set -euo pipefail
toolchain=$1 work=$2 repo=$3 build_root=$4
shift 4
mount --bind "$work" "$toolchain/cross"
mount --bind "$build_root" "$toolchain/cross/device-arm64"
mount --bind "$repo" "$toolchain/src"
[ -d /opt/swift-packages ] && mount --bind /opt/swift-packages "$toolchain/opt/swift-packages"
mount -t proc proc "$toolchain/proc"
in_chroot() {
  chroot "$toolchain" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
    PKG_CONFIG_PATH="/cross/device-arm64/usr/lib/aarch64-linux-gnu/pkgconfig:/cross/device-arm64/usr/share/pkgconfig" \
    PKG_CONFIG_SYSROOT_DIR="/cross/device-arm64" "$@"
}
in_chroot /usr/libexec/swift/bin/clang --target=aarch64-linux-gnu --sysroot=/cross/device-arm64 -O2 \
  -c /cross/glibc-compat.c -o /cross/glibc-compat.o
for product in "$@"; do
  if [ "$product" = pure-tests ] || [ "$product" = tests ]; then
    # Debian's swiftlang 6.2.3 ships the module of Testing's Foundation overlay
    # but not its library, which every test binary importing both is linked
    # with. The suites use nothing of it: an empty library stands in (a symbol
    # they did use would fail the link, not pass it).
    mkdir -p "$toolchain/cross/testing-stub"
    echo 'void posd_testing_foundation_stub(void) {}' > "$toolchain/cross/testing-stub/stub.c"
    in_chroot /usr/libexec/swift/bin/clang --target=aarch64-linux-gnu --sysroot=/cross/debian13-arm64 -shared -fuse-ld=lld \
      -o /cross/testing-stub/lib_Testing_Foundation.so /cross/testing-stub/stub.c
    # Debug, in a scratch of its own: the pure suites alone (Package.swift,
    # POSD_PURE_TESTS), or everything.
    selection="POSD_PURE_TESTS=1" scratch=/src/.build-aarch64-pure
    [ "$product" = tests ] && selection="" scratch=/src/.build-aarch64-tests
    in_chroot sh -c "cd /src && PKG_CONFIG_SYSROOT_DIR=/cross/debian13-arm64 \
      PKG_CONFIG_PATH=/cross/debian13-arm64/usr/lib/aarch64-linux-gnu/pkgconfig:/cross/debian13-arm64/usr/share/pkgconfig \
      $selection swift build --swift-sdks-path /cross/sdk --swift-sdk posd-tests \
      --build-tests --scratch-path $scratch -Xlinker -L/cross/testing-stub"
  else
    in_chroot sh -c "cd /src && swift build --swift-sdks-path /cross/sdk --swift-sdk posd-device -c release \
      --product $product --static-swift-stdlib --scratch-path /src/.build-aarch64"
  fi
done
INNER
mkdir -p "$repo/.build-aarch64-$image/release"
for product in "${products[@]}"; do
  if [ "$product" = pure-tests ]; then
    cp "$repo/.build-aarch64-pure/aarch64-unknown-linux-gnu/debug/posdPackageTests.xctest" "$repo/.build-aarch64-$image/pure-tests"
    mkdir -p "$repo/.build-aarch64-$image/pure-tests-lib"
    cp "$work/testing-stub/lib_Testing_Foundation.so" "$repo/.build-aarch64-$image/pure-tests-lib/"
  elif [ "$product" = tests ]; then
    cp "$work/testing-stub/lib_Testing_Foundation.so" "$repo/.build-aarch64-tests/aarch64-unknown-linux-gnu/debug/"
  else
    cp "$repo/.build-aarch64/aarch64-unknown-linux-gnu/release/$product" "$repo/.build-aarch64-$image/release/$product"
  fi
done
say "built ${products[*]} for $image in $repo/.build-aarch64-$image/release/"
