/**
 * PNG <-> the CIFAR-10 planar layout (1024 red, 1024 green, 1024 blue bytes, rows top to bottom).
 * pngjs decodes every colour type and bit depth to 8-bit RGBA; alpha is dropped, as PIL's
 * `convert('RGB')` does, so an exported PNG read back is the same image.
 */
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { HarnessError } from '../transports/errors.js';
import { IMAGE_BYTES } from './cifar10.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function describeStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'the file is empty';
  const head = bytes.subarray(0, 8);
  const printable = [...head].every((b) => b >= 0x20 && b < 0x7f);
  return printable ? `it starts with \`${Buffer.from(head).toString('latin1')}\`` : `it starts with bytes ${Buffer.from(head).toString('hex')}`;
}

/** Decode a 32x32 PNG into 3072 planar bytes; `name` (usually the path) goes into error messages. */
export function pngToPlanar(bytes: Uint8Array, name: string): Uint8Array {
  const hasSignature = bytes.length >= SIGNATURE.length && SIGNATURE.every((b, i) => bytes[i] === b);
  if (!hasSignature) {
    throw new HarnessError('BAD_INPUT', `Expected \`${name}\` to be a PNG image, but ${describeStart(bytes)}`);
  }
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new HarnessError('BAD_INPUT', `\`${name}\` is not a readable PNG: ${(error as Error).message}`, { cause: error });
  }
  if (png.width !== SIDE || png.height !== SIDE) {
    throw new HarnessError('BAD_INPUT', `Expected \`${name}\` to be a ${SIDE}x${SIDE} image (CIFAR-10 size), got ${png.width}x${png.height}`);
  }
  const rgba = png.data;
  const planar = new Uint8Array(IMAGE_BYTES);
  for (let p = 0; p < PLANE; p++) {
    planar[p] = rgba[p * 4] as number;
    planar[PLANE + p] = rgba[p * 4 + 1] as number;
    planar[2 * PLANE + p] = rgba[p * 4 + 2] as number;
  }
  return planar;
}

/** Read and decode a PNG file; a missing or unreadable file is BAD_INPUT, like a bad image. */
export async function readPngFile(file: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new HarnessError('BAD_INPUT', `Cannot read \`${file}\`: ${(error as Error).message}`, { cause: error });
  }
  return pngToPlanar(bytes, file);
}

/** Encode 3072 planar bytes as an 8-bit RGB PNG (no alpha channel). */
export function planarToPng(image: Uint8Array): Buffer {
  if (image.length !== IMAGE_BYTES) {
    throw new HarnessError('BAD_INPUT', `Expected a planar CIFAR-10 image of ${IMAGE_BYTES} bytes, got ${image.length}`);
  }
  const png = new PNG({ width: SIDE, height: SIDE });
  for (let p = 0; p < PLANE; p++) {
    png.data[p * 4] = image[p] as number;
    png.data[p * 4 + 1] = image[PLANE + p] as number;
    png.data[p * 4 + 2] = image[2 * PLANE + p] as number;
    png.data[p * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 2 });
}
