export { encode, decode } from "@msgpack/msgpack";
