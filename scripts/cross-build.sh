#!/usr/bin/env bash
# Cross-builds release aarch64 binaries of posd for a device image, from
# Debian's own Swift (sid's swiftlang 6.2.3) on an x86_64 Debian 12 bench:
#
#   scripts/cross-build.sh debian12|debian13 [PRODUCT...]     (default product: posd)
#
# Needs root (mmdebstrap, chroot, bind mounts in a private mount namespace)
# and Debian's archive; packages resolve from the local Swift package mirror.
# Everything it makes lives under .build-cross/ (POSD_CROSS_DIR): an amd64
# sid chroot with the compiler, an arm64 sysroot of the device image with
# sid's static Swift runtime copied in, and a Swift SDK bundle naming them.
# Binaries land in .build-aarch64-<image>/release/. Debian 12 (glibc 2.36)
# gets scripts/cross/glibc-compat.c linked in for the six glibc symbols the
# runtime takes from newer glibc; Debian 13 (glibc 2.41) needs nothing, and
# its libgpiod-dev is v2, which GPIOD's C binding picks up from the header. Facts and pitfalls: README, "Building for
# a device".
set -euo pipefail

image=${1:?usage: $0 debian12|debian13 [PRODUCT...]}
shift
products=("${@:-posd}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${POSD_CROSS_DIR:-$repo/.build-cross}
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || echo http://deb.debian.org/debian)}
case "$image" in
  debian12) suite=bookworm; gcc=12 ;;   # glibc 2.36, libgpiod 1.6
  debian13) suite=trixie; gcc=14 ;;     # glibc 2.41, libgpiod 2.x
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

sysroot=$work/$image-arm64
if [ ! -e "$sysroot/.complete" ]; then
  say "making the $image arm64 sysroot"
  rm -rf "$sysroot"
  strap --variant=extract --architectures=arm64 \
    --include=libc6-dev,zlib1g-dev,libstdc++-$gcc-dev,libgcc-$gcc-dev,libpcsclite-dev,libpcsclite1,libsqlite3-dev,libssl-dev,libgpiod-dev \
    "$suite" "$sysroot"
  # Debian 13 is merged-/usr, but an extracted root lacks the top-level links
  # (usr-is-merged makes them when installed): its linker scripts name /lib/….
  for dir in lib lib64 bin sbin; do
    if [ ! -e "$sysroot/$dir" ] && [ -d "$sysroot/usr/$dir" ]; then ln -s "usr/$dir" "$sysroot/$dir"; fi
  done
  mkdir -p "$sysroot/usr/libexec/swift/lib"
  # The Swift runtime (modules, static libraries, clang's builtin headers), not its compiler.
  (cd "$runtime/usr/libexec/swift/lib" && tar cf - --exclude=swift/host --exclude=swift/embedded swift swift_static clang) \
    | (cd "$sysroot/usr/libexec/swift/lib" && tar xf -)
  ln -sfn ../libexec/swift/lib/swift "$sysroot/usr/lib/swift"
  ln -sfn ../libexec/swift/lib/swift_static "$sysroot/usr/lib/swift_static"
  # The -dev packages' absolute links (libm.so -> /lib/...) would resolve on the
  # bench, or lld would quietly take the static library: make them relative.
  find "$sysroot/usr" -type l -lname '/*' | while read -r link; do
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$sysroot$(readlink "$link")")" "$link"
  done
  touch "$sysroot/.complete"
fi

# The Swift SDK bundle, with paths as the chroot sees them (/cross = $work).
sdk=$work/sdk/posd-$image.artifactbundle
mkdir -p "$sdk/$image"
cat > "$sdk/info.json" <<JSON
{"schemaVersion": "1.0", "artifacts": {"posd-$image": {"type": "swiftSDK", "version": "1", "variants": [{"path": "$image"}]}}}
JSON
cat > "$sdk/$image/swift-sdk.json" <<JSON
{"schemaVersion": "4.0", "targetTriples": {"aarch64-unknown-linux-gnu": {
  "sdkRootPath": "/cross/$image-arm64",
  "swiftResourcesPath": "/cross/$image-arm64/usr/lib/swift",
  "swiftStaticResourcesPath": "/cross/$image-arm64/usr/lib/swift_static",
  "toolsetPaths": ["toolset.json"]}}}
JSON
linker=""  # (SwiftPM refuses a tool with nothing in it)
if [ "$image" = debian12 ]; then linker=', "linker": {"extraCLIOptions": ["/cross/glibc-compat-debian12.o"]}'; fi
cat > "$sdk/$image/toolset.json" <<JSON
{"schemaVersion": "1.0", "swiftCompiler": {"extraCLIOptions": ["-use-ld=lld", "-no-toolchain-stdlib-rpath"]}$linker}
JSON

mkdir -p "$toolchain/cross" "$toolchain/src" "$toolchain/opt/swift-packages"
[ -f /etc/gitconfig ] && cp /etc/gitconfig "$toolchain/etc/gitconfig"
cp "$repo/scripts/cross/glibc-compat.c" "$work/glibc-compat.c"

# Inside a private mount namespace: the binds vanish with it.
unshare --mount bash -s "$toolchain" "$work" "$repo" "$image" "${products[@]}" <<'INNER'
set -euo pipefail
toolchain=$1 work=$2 repo=$3 image=$4
shift 4
mount --bind "$work" "$toolchain/cross"
mount --bind "$repo" "$toolchain/src"
[ -d /opt/swift-packages ] && mount --bind /opt/swift-packages "$toolchain/opt/swift-packages"
mount -t proc proc "$toolchain/proc"
in_chroot() {
  chroot "$toolchain" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
    PKG_CONFIG_PATH="/cross/$image-arm64/usr/lib/aarch64-linux-gnu/pkgconfig:/cross/$image-arm64/usr/share/pkgconfig" \
    PKG_CONFIG_SYSROOT_DIR="/cross/$image-arm64" "$@"
}
if [ "$image" = debian12 ]; then
  in_chroot /usr/libexec/swift/bin/clang --target=aarch64-linux-gnu --sysroot="/cross/$image-arm64" -O2 \
    -c /cross/glibc-compat.c -o /cross/glibc-compat-debian12.o
fi
for product in "$@"; do
  in_chroot sh -c "cd /src && swift build --swift-sdks-path /cross/sdk --swift-sdk posd-$image -c release \
    --product $product --static-swift-stdlib --scratch-path /src/.build-aarch64-$image"
done
INNER
say "built ${products[*]} for $image in $repo/.build-aarch64-$image/release/"
