/**
 * Reading a request body with a size limit, shared by every HTTP server of Corecast (the WHEP
 * routes and the Core API). Pure apart from consuming the stream it is given.
 */

/**
 * The body as UTF-8, or `undefined` when it is larger than `limit` bytes: a declared length
 * above the limit is refused before anything is read, and a body that grows past it stops being
 * read at once (leaving the loop ends the stream). The caller answers 413 and closes the
 * connection, since the rest of the body was never read.
 */
export async function readBounded(body: AsyncIterable<Buffer>, declaredLength: number, limit: number): Promise<string | undefined> {
  if (declaredLength > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
