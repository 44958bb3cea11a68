// Matcap: looks up the view-space normal in a picture of a lit sphere, so the shape reads
// clearly whatever the asset's colours. The page paints the sphere itself (a clay colour,
// a key and a fill light, a rim), so no image file is needed.

uniform sampler2D matcap;

varying vec3 vViewNormal;

void main() {
  vec3 n = normalize(vViewNormal) * (gl_FrontFacing ? 1.0 : -1.0);
  vec2 uv = n.xy * 0.495 + 0.5;
  gl_FragColor = vec4(texture2D(matcap, uv).rgb, 1.0);
  #include <colorspace_fragment>
}
